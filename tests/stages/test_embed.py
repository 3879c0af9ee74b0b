"""The embedding stage with the real EfficientNet-Lite0 model: no mocks.

Frames come from FFmpeg's synthetic sources (the imageio-ffmpeg binary); each gets the edits a
re-upload typically suffers, and every edit must find its own original first.
"""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image, ImageEnhance

from heaters.domain.results import EmbedRequest, StageError
from heaters.stages import embed
from heaters.stages.models import (
    DEFAULT_MODEL,
    EFFICIENTNET_LITE0,
    MODELS_DIR_ENV,
    ModelError,
    get_model,
    load_labels,
    model_spec_from_mapping,
)

W, H = 640, 360
# Distinct synthetic scenes (zoneplate is left out: at t=1 s it is a flat grey frame).
SOURCES = {
    "testsrc2": "testsrc2=size={s}:rate=5",
    "mandelbrot": "mandelbrot=size={s}:rate=5",
    "smptebars": "smptebars=size={s}:rate=5",
    "life": "life=size={s}:rate=5:mold=10:ratio=0.5:death_color=#203060:life_color=#f0c040:seed=1",
    "cellauto": "cellauto=size={s}:rate=5:rule=110:seed=1",
    "gradients": "gradients=size={s}:rate=5:n=5:seed=3",
    "colorspectrum": "colorspectrum=size={s}:rate=5",
    "sierpinski": "sierpinski=size={s}:rate=5:seed=1",
}


def lavfi_frame(spec: str, at_s: float = 1.0) -> np.ndarray:
    """One RGB frame of an FFmpeg lavfi source, as uint8 (H, W, 3)."""
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        *("-v", "error", "-f", "lavfi", "-i", spec.format(s=f"{W}x{H}")),
        *("-ss", str(at_s), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"),
    ]
    out = subprocess.run(cmd, capture_output=True, check=True).stdout  # noqa: S603
    return np.frombuffer(out, dtype=np.uint8).reshape(H, W, 3).copy()


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def edits(frame: np.ndarray) -> dict[str, Image.Image]:
    im = Image.fromarray(frame)
    w, h = im.size
    return {
        "crop80": im.crop((w // 10, h // 10, w - w // 10, h - h // 10)),
        "crop80_corner": im.crop((0, 0, w * 8 // 10, h * 8 // 10)),
        "flip": im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        "brightness+30%": ImageEnhance.Brightness(im).enhance(1.3),
        "half_size": im.resize((w // 2, h // 2), Image.Resampling.BILINEAR),
        "jpeg_q30": jpeg(im, 30),
    }


@pytest.fixture(scope="module")
def frames() -> dict[str, np.ndarray]:
    return {name: lavfi_frame(spec) for name, spec in SOURCES.items()}


def test_every_edit_finds_its_own_original_first(frames: dict[str, np.ndarray]) -> None:
    names = list(frames)
    originals = embed.embed_images([frames[n] for n in names])
    assert originals.shape == (len(names), 1280)
    assert originals.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(originals, axis=1), 1.0, atol=1e-5)

    edited, truth = [], []
    for n in names:
        for kind, image in edits(frames[n]).items():
            edited.append(image)
            truth.append((n, kind))
    sims = embed.embed_images(edited) @ originals.T
    wrong = [
        f"{kind} of {n} -> {names[int(np.argmax(row))]}"
        for (n, kind), row in zip(truth, sims, strict=True)
        if names[int(np.argmax(row))] != n
    ]
    assert not wrong, wrong
    # Near-duplicates stay near (the weakest here: a half-size cellular automaton, ~0.54).
    self_sims = np.array([row[names.index(n)] for (n, _), row in zip(truth, sims, strict=True)])
    assert self_sims.min() > 0.5


def test_embed_image_is_deterministic_and_batch_independent(frames: dict[str, np.ndarray]) -> None:
    images = list(frames.values())
    one_by_one = np.stack([embed.embed_image(im) for im in images])
    batched = embed.embed_images(images, batch_size=5)
    np.testing.assert_allclose(one_by_one, batched, atol=1e-5)
    # PIL images and arrays are the same input.
    pil = embed.embed_image(Image.fromarray(images[0]))
    np.testing.assert_allclose(pil, one_by_one[0], atol=1e-6)


def test_preprocess_matches_the_model_contract() -> None:
    # A wide image: the centre square is kept, resized to 224, scaled (x - 127) / 128, NCHW.
    img = np.zeros((100, 300, 3), dtype=np.uint8)
    img[:, 100:200] = (255, 0, 127)  # the centre square, in R, G, B
    x = embed.preprocess(img)
    assert x.shape == (3, 224, 224) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, 112, 112], [(255 - 127) / 128, -127 / 128, 0.0], atol=1e-6)
    bgr = embed.preprocess(
        img,
        model_spec_from_mapping(
            "m", {"file": "x", "dim": 1, "channel_order": "BGR", "layout": "NHWC"}
        ),
    )
    assert bgr.shape == (224, 224, 3)
    np.testing.assert_allclose(bgr[112, 112], [0.0, -127 / 128, (255 - 127) / 128], atol=1e-6)


def write_keyframes(
    directory: Path, frames: list[np.ndarray], scale: float = 1.0
) -> tuple[Path, ...]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, frame in enumerate(frames):
        im = Image.fromarray(frame)
        if scale != 1.0:
            im = im.resize((int(W * scale), int(H * scale)), Image.Resampling.BILINEAR)
        path = directory / f"kf_{i}.jpg"
        im.save(path, "JPEG", quality=90 if scale == 1.0 else 60)
        paths.append(path)
    return tuple(paths)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, ...]]:
    """Clips of three keyframes each (the source at 0.6, 1.0, 1.4 s), and a half-size, re-encoded
    twin of each as a second download of the same video would give."""
    root = tmp_path_factory.mktemp("clips")
    out: dict[str, tuple[Path, ...]] = {}
    for name in ("testsrc2", "mandelbrot", "life", "gradients"):
        kfs = [lavfi_frame(SOURCES[name], t) for t in (0.6, 1.0, 1.4)]
        out[name] = write_keyframes(root / name, kfs)
        out[name + "_twin"] = write_keyframes(root / (name + "_twin"), kfs, scale=0.5)
    return out


def test_run_embeds_clips_and_twins_find_each_other(clips: dict[str, tuple[Path, ...]]) -> None:
    names = list(clips)
    requests = [EmbedRequest(clip_id=i + 1, keyframe_paths=clips[n]) for i, n in enumerate(names)]
    progress: list[tuple[int, int]] = []
    result = embed.run(
        requests, EFFICIENTNET_LITE0, batch_size=4, on_progress=lambda d, t: progress.append((d, t))
    )

    assert result.status == "ok"
    assert (result.model, result.strategy, result.dim) == (
        "efficientnet_lite0",
        "keyframe_multi_avg",
        1280,
    )
    assert [it.clip_id for it in result.items] == [r.clip_id for r in requests]
    assert progress[-1] == (3 * len(names), 3 * len(names))
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)

    labels = set(load_labels(EFFICIENTNET_LITE0) or ())
    vectors = np.array([it.vector for it in result.items], dtype=np.float32)
    assert vectors.shape == (len(names), 1280)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    for it in result.items:
        assert it.status == "ok" and it.error is None
        assert len(it.tags) == 5
        probs = [p for _, p in it.tags]
        assert probs == sorted(probs, reverse=True) and 0 < probs[0] <= 1 and sum(probs) <= 1.0001
        assert all(label in labels for label, _ in it.tags)
        assert len({label for label, _ in it.tags}) == 5

    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -1)
    for i, n in enumerate(names):
        twin = n[: -len("_twin")] if n.endswith("_twin") else n + "_twin"
        assert names[int(np.argmax(sims[i]))] == twin

    # Batching across clips never mixes them: one batch per keyframe gives the same vectors.
    single = embed.run(requests, EFFICIENTNET_LITE0, batch_size=1)
    np.testing.assert_allclose(np.array([it.vector for it in single.items]), vectors, atol=1e-5)


def test_strategy_is_normalised_mean_of_normalised_keyframe_vectors(
    clips: dict[str, tuple[Path, ...]],
) -> None:
    paths = clips["mandelbrot"]
    per_frame = np.stack([embed.embed_image(embed.load_image(p, 224)) for p in paths])
    expected = per_frame.mean(axis=0)
    expected /= np.linalg.norm(expected)
    (item,) = embed.run([EmbedRequest(clip_id=7, keyframe_paths=paths)]).items
    np.testing.assert_allclose(np.array(item.vector), expected, atol=1e-5)


def test_a_bad_clip_fails_alone(clips: dict[str, tuple[Path, ...]], tmp_path: Path) -> None:
    garbage = tmp_path / "kf_1.jpg"
    garbage.write_bytes(b"\xff\xd8 this is not a JPEG")
    truncated = tmp_path / "kf_2.jpg"
    truncated.write_bytes(clips["life"][0].read_bytes()[:200])
    requests = [
        EmbedRequest(clip_id=1, keyframe_paths=clips["testsrc2"]),
        EmbedRequest(clip_id=2, keyframe_paths=(clips["life"][0], garbage)),
        EmbedRequest(clip_id=3, keyframe_paths=(tmp_path / "missing.jpg",)),
        EmbedRequest(clip_id=4, keyframe_paths=()),
        EmbedRequest(clip_id=5, keyframe_paths=(truncated,)),
        EmbedRequest(clip_id=6, keyframe_paths=clips["gradients"]),
    ]
    result = embed.run(requests, batch_size=3)
    by_id = {it.clip_id: it for it in result.items}
    assert result.status == "ok"
    assert [by_id[i].status for i in (1, 6)] == ["ok", "ok"]
    for i in (2, 3, 4, 5):
        item = by_id[i]
        assert item.status == "failed" and item.vector == () and item.tags == ()
        assert item.error and "\n" not in item.error
    assert "kf_1.jpg" in (by_id[2].error or "")
    assert "missing.jpg" in (by_id[3].error or "")
    assert by_id[4].error == "no keyframes"
    # The good clips are unaffected by the bad ones sharing their batches.
    alone = embed.run([requests[0], requests[5]])
    np.testing.assert_allclose(
        np.array([alone.items[0].vector, alone.items[1].vector]),
        np.array([by_id[1].vector, by_id[6].vector]),
        atol=1e-5,
    )


def test_empty_request_list() -> None:
    result = embed.run([])
    assert result.status == "ok" and result.items == ()


def test_model_registry_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_model() is EFFICIENTNET_LITE0 and DEFAULT_MODEL == "efficientnet_lite0"
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        get_model("nope")
    assert issubclass(ModelError, StageError)

    mine = model_spec_from_mapping(
        "mine",
        {"file": str(tmp_path / "mine.onnx"), "dim": 512, "mean": [123.7, 116.3, 103.5], "std": 58},
    )
    assert mine.std == (58.0, 58.0, 58.0) and mine.logits_output is None
    assert get_model("mine", {"mine": mine}) is mine
    with pytest.raises(ModelError, match="unknown keys"):
        model_spec_from_mapping("bad", {"file": "x.onnx", "dim": 3, "colour": "blue"})
    with pytest.raises(ModelError, match="missing"):
        model_spec_from_mapping("bad", {"file": "x.onnx"})

    # A missing file names where it looked; a spec that disagrees with the file fails loudly.
    with pytest.raises(ModelError, match="model file not found"):
        embed.run([EmbedRequest(1, ())], mine)
    wrong_dim = model_spec_from_mapping(
        "lite0_wrong", {"file": "efficientnet_lite0.onnx", "dim": 512}
    )
    with pytest.raises(ModelError, match="1280 dims"):
        embed.run([EmbedRequest(1, ())], wrong_dim)

    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path))
    with pytest.raises(ModelError, match=re.escape(str(tmp_path))):
        embed.run([EmbedRequest(1, ())])


def test_a_model_without_logits_gives_vectors_but_no_tags(
    clips: dict[str, tuple[Path, ...]],
) -> None:
    spec = model_spec_from_mapping(
        "lite0_no_tags",
        {"file": "efficientnet_lite0.onnx", "dim": 1280, "input_name": "input"},
    )
    (item,) = embed.run([EmbedRequest(clip_id=1, keyframe_paths=clips["life"])], spec).items
    assert item.status == "ok" and len(item.vector) == 1280 and item.tags == ()
