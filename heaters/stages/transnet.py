"""TransNetV2 shot-boundary network (`models/transnetv2.onnx`), run with onnxruntime only.

Classic detectors find hard cuts but not gradual transitions (FACTS.md: 1 of 3 dissolves); this
network scores every frame for "a transition happens here" from 48x27 RGB thumbnails, which cost
little next to decoding. It is slow next to a classic detector (one 100-frame window per call,
~50 output frames per call), so the splice stage runs it only where a gradual transition is
possible: `predict_range` scores a sub-range and gives exactly what `predict` gives there.

Frame numbering: a probability belongs to a frame index of the input (the k-th decoded frame).
TransNetV2 fires on the *last frame of the outgoing shot*: a hard cut whose new shot starts at
frame c peaks at c - 1 (see `boundary_frames`, which returns first frames of new shots).

The model file is found like the other models (`heaters.stages.models.models_dir`); no torch and
nothing downloaded at run time. See models/README.md for its provenance and contract.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import av
import numpy as np
from av.video.frame import VideoFrame
from av.video.reformatter import VideoReformatter

from heaters.stages.models import ModelError, resolve_model_file, session_options

MODEL_FILE = "transnetv2.onnx"
HEIGHT, WIDTH = 27, 48  # the network's frame size (rows, columns); RGB uint8
WINDOW = 100  # frames per network call (the export has a fixed shape)
STRIDE = 50  # windows overlap by half; the middle STRIDE predictions of each are kept
CONTEXT = (WINDOW - STRIDE) // 2  # 25 frames of context on each side of the kept predictions
INPUT, SINGLE, MANY_HOT = "frames", "single_frame_logits", "many_hot_logits"


def small_frame(frame: VideoFrame, scaler: VideoReformatter | None = None) -> np.ndarray:
    """A decoded frame as the network's (27, 48, 3) uint8 RGB thumbnail (aspect ignored, as in
    TransNetV2's training). Pass one `scaler` for a whole video: it keeps the scaling context, which
    `frame.reformat` rebuilds for every frame (2.5x the cost: ~1.5 vs ~0.5 ms per 720p frame)."""
    scaler = scaler or VideoReformatter()
    return scaler.reformat(
        frame,
        WIDTH,
        HEIGHT,
        "rgb24",
        src_color_range=frame.color_range,  # full-range sources would otherwise shift levels
        threads=1,  # for 48x27, swscale's slice threads cost more than they save (~30%)
    ).to_ndarray()


def read_small_frames(path: str | Path) -> np.ndarray:
    """Every frame of a video's first video stream as (N, 27, 48, 3) uint8: for tests and tools;
    the splice stage makes its thumbnails during its own single decode pass."""
    scaler = VideoReformatter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        frames = [small_frame(f, scaler) for f in container.decode(stream)]
    if not frames:
        return np.empty((0, HEIGHT, WIDTH, 3), np.uint8)
    return np.stack(frames)


def window_span(start: int, stop: int) -> tuple[int, int]:
    """The frames [lo, hi) that scoring frames [start, stop) reads (hi may exceed the video: the
    last frame is repeated there). Windows are aligned to multiples of STRIDE from frame 0, so a
    sub-range gets the same windows, hence the same numbers, as the whole video."""
    if not 0 <= start < stop:
        raise ValueError(f"need 0 <= start < stop, got {start}, {stop}")
    first, last = start // STRIDE, (stop - 1) // STRIDE
    return max(0, first * STRIDE - CONTEXT), last * STRIDE + STRIDE + CONTEXT


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (0.5 * (1.0 + np.tanh(0.5 * x))).astype(np.float32)  # no overflow for large |x|


class TransNet:
    """One onnxruntime session of TransNetV2; `run` is thread-safe, so share one instance."""

    def __init__(self, path: str | Path | None = None, threads: int | None = None) -> None:
        """`path`: the .onnx (default: transnetv2.onnx in the models folder); `threads`: intra-op
        threads (default: the cores this process may use). Spinning is off (session_options):
        it halves throughput when decoding shares the cores."""
        import onnxruntime as ort  # on first use: a splice without blend candidates needs none

        self.path = resolve_model_file(path or MODEL_FILE)
        try:
            self.session = ort.InferenceSession(
                str(self.path),
                sess_options=session_options(threads),
                providers=["CPUExecutionProvider"],
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"cannot load {self.path}: {str(exc).splitlines()[0]}") from exc
        self._check()

    def _check(self) -> None:
        """Fail at load, not mid-video, if the file is not the network this wrapper feeds."""
        inputs = {i.name: (i.shape, i.type) for i in self.session.get_inputs()}
        outputs = {o.name for o in self.session.get_outputs()}
        want = ([1, WINDOW, HEIGHT, WIDTH, 3], "tensor(uint8)")
        if inputs.get(INPUT) != want or not {SINGLE, MANY_HOT} <= outputs:
            raise ModelError(
                f"{self.path} is not TransNetV2 as exported by models/export_transnetv2.py: "
                f"inputs {inputs}, outputs {sorted(outputs)}"
            )

    def predict_window(self, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities (100,) of both heads for one window of 100 frames: single-frame
        (a transition at this frame) and many-hot (this frame lies inside a transition)."""
        window = _as_frames(window)
        if len(window) != WINDOW:
            raise ValueError(f"a window is {WINDOW} frames, got {len(window)}")
        single, many = self.session.run([SINGLE, MANY_HOT], {INPUT: window[None]})
        return _sigmoid(single[0]), _sigmoid(many[0])

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """Per-frame transition probability (N,) float32 for a whole video's thumbnails
        (N, 27, 48, 3) uint8: TransNetV2's standard windowing (first and last frames repeated as
        padding, windows of 100 at stride 50, middle 50 of each kept)."""
        frames = _as_frames(frames)
        if len(frames) == 0:
            return np.empty(0, np.float32)
        return self.predict_range(frames, 0, len(frames))

    def predict_range(
        self, frames: np.ndarray, start: int, stop: int, *, offset: int = 0
    ) -> np.ndarray:
        """Probabilities (stop - start,) of video frames [start, stop), equal to
        `predict(all_frames)[start:stop]`.

        `frames[i]` is video frame `offset + i`. They must cover `window_span(start, stop)` (a
        caller may decode only that) except past the video's end, where the last given frame is
        repeated: that matches `predict` only if the frames do end at the video's end.
        """
        frames = _as_frames(frames)
        n = len(frames)
        if not offset <= start <= stop <= offset + n:
            raise ValueError(
                f"range [{start}, {stop}) is not inside the given frames [{offset}, {offset + n})"
            )
        out = np.empty(stop - start, np.float32)
        if start == stop:
            return out
        lo, _ = window_span(start, stop)
        if lo < offset:
            raise ValueError(
                f"scoring from frame {start} needs context from frame {lo}; frames start at {offset}"
            )
        for k in range(start // STRIDE, (stop - 1) // STRIDE + 1):
            base = k * STRIDE - CONTEXT  # video frame at window position 0
            # Clipping repeats the first frame before frame 0 and the last one past the end.
            idx = np.clip(np.arange(base, base + WINDOW) - offset, 0, n - 1)
            (logits,) = self.session.run([SINGLE], {INPUT: frames[idx][None]})
            a, b = max(start, k * STRIDE), min(stop, (k + 1) * STRIDE)
            out[a - start : b - start] = _sigmoid(logits[0, a - base : b - base])
        return out


@cache
def load_transnet(threads: int | None = None) -> TransNet:
    """A process-wide TransNet per thread count: creating a session costs ~0.3 s."""
    return TransNet(threads=threads)


def boundary_frames(p: np.ndarray, threshold: float = 0.5, offset: int = 0) -> list[int]:
    """First frame of each new shot: for every run of frames with p > threshold, the frame after
    its maximum (TransNetV2 marks the last frame of the outgoing shot). `offset` is added, for
    probabilities of a sub-range."""
    above = np.flatnonzero(np.asarray(p) > threshold)
    if len(above) == 0:
        return []
    runs = np.split(above, np.flatnonzero(np.diff(above) > 1) + 1)
    return [offset + int(run[np.argmax(p[run])]) + 1 for run in runs]


def _as_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[1:] != (HEIGHT, WIDTH, 3):
        raise ValueError(f"frames must be (N, {HEIGHT}, {WIDTH}, 3), got {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 RGB, got {frames.dtype}")
    return np.ascontiguousarray(frames)
