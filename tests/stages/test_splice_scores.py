"""The splice's per-frame scores against a reference model written frame by frame.

The splice measures frames in batches (whole-array numpy per batch); this reference measures
each frame on its own with OpenCV, the way the rules were first written, straight from
`heaters.domain.scenes.COLUMNS`' definitions. Footage long enough to cross several batch
boundaries, with a dissolve (blend scores), a cut and a fade (luma, spread).
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from heaters.domain.scenes import COL
from heaters.stages import splice
from heaters.synthetic import ffmpeg_exe


def _footage(path: Path) -> Path:
    """~3.3 s at 25 fps, 4:2:0: two sources dissolving, then a cut, then a fade to black."""
    graph = (
        "[0:v][1:v]xfade=transition=fade:duration=0.6:offset=1.0[a];"
        "[a][2:v]concat=n=2:v=1:a=0,fade=out:st=2.7:d=0.5[v]"
    )
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=352x198:rate=25:duration=1.6",
         "-f", "lavfi", "-t", "1.2", "-i", "mandelbrot=size=352x198:rate=25",
         "-f", "lavfi", "-i", "smptebars=size=352x198:rate=25:duration=1.7",
         "-filter_complex", graph, "-map", "[v]", "-c:v", "libx264", "-pix_fmt", "yuv420p",
         str(path)],
        check=True,
        timeout=120,
    )  # fmt: skip
    return path


def _reference(path: Path) -> np.ndarray:
    """Per frame: strided samples, the centred 16x8x8 histogram in two luma phases, L1 changes
    from the 1-3 frames before, luma mean and spread, and the blend test at h = 4, 8, 12."""
    rows: list[list[float]] = []
    recent: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        splice.configure_decoder(stream)  # the same pixels: the deblocking filter skipped
        for frame in container.decode(stream):
            step = max(1, round(frame.width / splice.SAMPLE_WIDTH))
            r = splice.ROW_FACTOR * step
            p = [np.frombuffer(q, np.uint8).reshape(-1, q.line_size) for q in frame.planes[:3]]
            ch, cw = (frame.height + 1) // 2, (frame.width + 1) // 2
            y = np.ascontiguousarray(p[0][: frame.height : r, : frame.width : step])
            u = np.ascontiguousarray(p[1][:ch:r, :cw:step])
            v = np.ascontiguousarray(p[2][:ch:r, :cw:step])
            yc = np.ascontiguousarray(y[::2, ::2][: u.shape[0], : u.shape[1]])
            shift = 144.0 - cv2.mean(yc)[0]
            yc = cv2.add(yc, shift) if shift >= 0 else cv2.subtract(yc, -shift)
            fine = cv2.calcHist([yc, u, v], [0, 1, 2], None, [16, 8, 8], [0, 256] * 3)
            fine *= 100.0 / u.size
            hist = fine.reshape(8, 2, 8, 8).sum(axis=1)
            half = np.concatenate([fine[:1], fine[1:15].reshape(7, 2, 8, 8).sum(axis=1), fine[15:]])
            pix = np.concatenate([y.ravel(), u.ravel(), u.ravel(), v.ravel(), v.ravel()])
            flat = np.concatenate([y[::2, ::2].ravel(), u[::2, ::2].ravel(), v[::2, ::2].ravel()])
            row = [0.0] * len(COL)
            row[COL["q"]], row[COL["net"]] = math.inf, math.nan
            for k, (pix0, _flat0, hist0, half0) in enumerate(recent[:3]):
                row[COL[f"pix{k + 1}"]] = cv2.norm(pix, pix0, cv2.NORM_L1) / pix.size
                row[COL[f"hist{k + 1}"]] = (
                    min(cv2.norm(hist, hist0, cv2.NORM_L1), cv2.norm(half, half0, cv2.NORM_L1)) / 2
                )
            mean, std = cv2.meanStdDev(y)
            row[COL["luma"]], row[COL["spread"]] = float(mean[0, 0]), float(std[0, 0])
            rows.append(row)
            recent.insert(0, (pix, flat, hist, half))
            i = len(rows) - 1
            for h in splice.BLEND_H:
                if i < 2 * h:
                    break
                a, m = recent[2 * h][1], recent[h][1]
                far = cv2.norm(a, flat, cv2.NORM_L1) / a.size
                if far < splice.FAR_MIN:
                    continue
                mix = cv2.addWeighted(a, 0.5, flat, 0.5, 0.0).ravel()
                q = cv2.norm(m, mix, cv2.NORM_L1) / a.size / far
                if q < rows[i - h][COL["q"]]:
                    rows[i - h][COL["q"]], rows[i - h][COL["far"]] = q, far
            del recent[2 * max(splice.BLEND_H) + 1 :]
    return np.asarray(rows, dtype=np.float32)


@pytest.mark.parametrize("batch", [splice.BATCH, 7])
def test_batched_scores_equal_the_per_frame_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    path = _footage(tmp_path / "dissolve-cut-fade.mp4")
    monkeypatch.setattr(splice, "BATCH", batch)
    got = splice.run(path, 1, splice.SpliceParams(detector="content", min_clip_s=0)).scores
    want = _reference(path)
    assert got.shape == want.shape and len(got) > 3 * splice.BATCH
    np.testing.assert_array_equal(got, want)
    # The footage exercises what the columns are for: a blend and a fade to black.
    assert np.nanmin(got[:, COL["q"]]) < 0.3
    assert got[-1, COL["luma"]] < 20
