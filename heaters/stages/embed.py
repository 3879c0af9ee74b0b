"""Embedding stage: keyframe JPEGs -> one vector per clip, plus ImageNet tags.

Pure media/ML code: the runner passes the keyframe paths, gets an `EmbedResult`, and stores it.
Inference is batched across clips (one onnxruntime call per `batch_size` keyframes, whatever clip
they belong to); decoding a batch runs on all cores while the model is idle, so the stage keeps
pace with plain onnxruntime on the same images.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from heaters.domain.results import ClipEmbedding, EmbedRequest, EmbedResult
from heaters.domain.text import error_line
from heaters.stages.models import (
    EFFICIENTNET_LITE0,
    ModelSpec,
    cpu_threads,
    image_session,
    input_name,
    load_labels,
)

STRATEGY = "keyframe_multi_avg"
TOP_TAGS = 5

# on_progress(images_done, images_total)
Progress = Callable[[int, int], None]
ImageLike = np.ndarray | Image.Image


def load_image(path: Path, size: int = 224) -> Image.Image:
    """Decode an image as RGB. For JPEG, decode at a reduced scale (DCT scaling) that still leaves
    at least `size` pixels on each side: a 1280x720 keyframe decodes at 640x360, ~3x faster."""
    with Image.open(path) as im:
        im.draft("RGB", (size, size))
        return im.convert("RGB")


def preprocess(image: ImageLike, model: ModelSpec = EFFICIENTNET_LITE0) -> np.ndarray:
    """Centre square crop, resize to the model's input size (bilinear, antialiased), scale, and lay
    out as the model wants: float32 (3, S, S) for NCHW or (S, S, 3) for NHWC.

    An array must be uint8 RGB (H, W, 3)."""
    img = (
        Image.fromarray(np.asarray(image, dtype=np.uint8))
        if isinstance(image, np.ndarray)
        else image
    )
    if img.mode != "RGB":
        img = img.convert("RGB")
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    size = model.input_size
    img = img.resize(
        (size, size), Image.Resampling.BILINEAR, box=(left, top, left + side, top + side)
    )
    x = np.asarray(img, dtype=np.float32)
    if model.channel_order == "BGR":
        x = x[:, :, ::-1]
    x = (x - np.asarray(model.mean, dtype=np.float32)) / np.asarray(model.std, dtype=np.float32)
    if model.layout == "NCHW":
        x = x.transpose(2, 0, 1)
    return np.ascontiguousarray(x)


def _l2(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def infer(
    batch: np.ndarray, model: ModelSpec = EFFICIENTNET_LITE0, models_dir: Path | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Run the model on a preprocessed batch: (raw embeddings (N, dim), class probabilities
    (N, classes) or None when the model has no logits)."""
    sess = image_session(model, models_dir)
    outputs = [model.embedding_output] + ([model.logits_output] if model.logits_output else [])
    result = sess.run(outputs, {input_name(model, sess): batch})
    emb = np.asarray(result[0], dtype=np.float32).reshape(len(batch), -1)
    probs = _softmax(np.asarray(result[1], dtype=np.float32)) if model.logits_output else None
    return emb, probs


def embed_images(
    images: Sequence[ImageLike],
    model: ModelSpec = EFFICIENTNET_LITE0,
    batch_size: int = 16,
    models_dir: Path | None = None,
) -> np.ndarray:
    """L2-normalised embeddings (N, dim) of in-memory images (uint8 RGB arrays or PIL images)."""
    out = np.zeros((len(images), model.dim), dtype=np.float32)
    for lo in range(0, len(images), batch_size):
        batch = np.stack([preprocess(im, model) for im in images[lo : lo + batch_size]])
        out[lo : lo + len(batch)] = _l2(infer(batch, model, models_dir)[0])
    return out


def embed_image(
    image: ImageLike, model: ModelSpec = EFFICIENTNET_LITE0, models_dir: Path | None = None
) -> np.ndarray:
    """The L2-normalised embedding (dim,) of one image: near-duplicates have cosine close to 1."""
    return embed_images([image], model, models_dir=models_dir)[0]


@cache
def _label_groups(labels: tuple[str, ...]) -> tuple[tuple[str, ...], np.ndarray]:
    """Unique label names and each class's index among them: ImageNet names "crane" and "maillot"
    twice, and a tag list should not show a name twice."""
    names = tuple(dict.fromkeys(labels))
    index = {n: i for i, n in enumerate(names)}
    return names, np.array([index[label] for label in labels], dtype=np.int64)


def top_tags(
    probs: np.ndarray, labels: tuple[str, ...], k: int = TOP_TAGS
) -> tuple[tuple[str, float], ...]:
    """The k most probable label names, (name, probability), best first."""
    names, groups = _label_groups(labels)
    merged = np.zeros(len(names), dtype=np.float64)
    np.add.at(merged, groups, probs[: len(labels)])
    best = np.argsort(-merged, kind="stable")[:k]
    return tuple((names[i], round(float(merged[i]), 4)) for i in best)


def _load(path: Path, model: ModelSpec) -> np.ndarray | str:
    """A preprocessed keyframe, or a one-line reason it could not be read."""
    try:
        return preprocess(load_image(path, model.input_size), model)
    except Exception as exc:  # Pillow raises many types for bad files
        return f"cannot read keyframe {path.name}: {error_line(exc)}"


def run(
    requests: Sequence[EmbedRequest],
    model: ModelSpec = EFFICIENTNET_LITE0,
    batch_size: int = 16,
    on_progress: Progress | None = None,
    models_dir: Path | None = None,
) -> EmbedResult:
    """Embed clips by strategy `keyframe_multi_avg`: the L2-normalised mean of the L2-normalised
    keyframe vectors; tags are the top ImageNet labels of the mean keyframe probabilities.

    A clip with no keyframes or an unreadable one fails alone (one-line error); the others
    proceed. A missing or mismatched model raises `ModelError` (a `StageError`)."""
    t0 = time.monotonic()
    labels = load_labels(model, models_dir)
    image_session(model, models_dir)  # fail early, before decoding anything

    jobs = [(ci, Path(p)) for ci, r in enumerate(requests) for p in r.keyframe_paths]
    total = len(jobs)
    errors: dict[int, str] = {
        ci: "no keyframes" for ci, r in enumerate(requests) if not r.keyframe_paths
    }
    emb_sum = np.zeros((len(requests), model.dim), dtype=np.float64)
    prob_sum: np.ndarray | None = None
    counts = np.zeros(len(requests), dtype=np.int64)

    done = 0
    with ThreadPoolExecutor(max_workers=cpu_threads()) as pool:
        for lo in range(0, total, batch_size):
            chunk = jobs[lo : lo + batch_size]
            loaded = list(pool.map(lambda job: _load(job[1], model), chunk))
            arrays: list[np.ndarray] = []
            owners: list[int] = []
            for (ci, _), item in zip(chunk, loaded, strict=True):
                if isinstance(item, str):
                    errors.setdefault(ci, item)
                elif ci not in errors:
                    arrays.append(item)
                    owners.append(ci)
            if arrays:
                emb, probs = infer(np.stack(arrays), model, models_dir)
                emb = _l2(emb)
                np.add.at(emb_sum, owners, emb)
                np.add.at(counts, owners, 1)
                if probs is not None:
                    if prob_sum is None:
                        prob_sum = np.zeros((len(requests), probs.shape[1]), dtype=np.float64)
                    np.add.at(prob_sum, owners, probs)
            done += len(chunk)
            if on_progress:
                on_progress(done, total)

    items: list[ClipEmbedding] = []
    for ci, req in enumerate(requests):
        if ci in errors:
            items.append(ClipEmbedding(clip_id=req.clip_id, status="failed", error=errors[ci]))
            continue
        vector = _l2(emb_sum[ci] / counts[ci]).astype(np.float32)
        tags: tuple[tuple[str, float], ...] = ()
        if prob_sum is not None and labels is not None:
            tags = top_tags(prob_sum[ci] / counts[ci], labels)
        items.append(
            ClipEmbedding(
                clip_id=req.clip_id, status="ok", vector=tuple(vector.tolist()), tags=tags
            )
        )
    return EmbedResult(
        status="ok",
        model=model.name,
        strategy=STRATEGY,
        dim=model.dim,
        items=tuple(items),
        duration_ms=int((time.monotonic() - t0) * 1000),
    )
