"""Changing the model backfills: after `model = NAME` in the config, `heaters run` embeds the
clips already embedded by the old model with the new one too; vectors never mix and
`similar --model` picks either."""

from __future__ import annotations

from pathlib import Path

from heaters.synthetic import make_video
from tests.conftest import cli

SECOND = """
model = "lite0_copy"

[models.lite0_copy]
file = "efficientnet_lite0.onnx"
dim = 1280
input_name = "input"
embedding_output = "embedding"
logits_output = "logits"
labels_file = "imagenet_labels.txt"
"""


def test_a_new_model_backfills_the_embedded_clips(tmp_path: Path) -> None:
    home = tmp_path / "home"
    video = make_video(tmp_path / "v.mp4", (1.5, 1.5, 1.5), seed=7)
    assert cli(home, "ingest", str(video.path)).code == 0
    assert cli(home, "run", "--quiet").code == 0
    clips = cli(home, "clips", "--json").json()
    for clip in clips:  # type: ignore[union-attr]
        assert cli(home, "review", "approve", str(clip["id"]), "--quiet").code == 0
    assert cli(home, "run", "--grace", "0", "--quiet").code == 0
    first = clips[0]["id"]  # type: ignore[index]
    assert cli(home, "similar", str(first), "--model", "lite0_copy").code == 2  # not yet

    config = home / "config.toml"
    config.write_text(config.read_text() + SECOND if config.exists() else SECOND)
    res = cli(home, "run", "--grace", "0", "--json")
    assert res.code == 0, res.stderr
    assert res.json()["claimed"].get("backfill") == len(clips)  # type: ignore[union-attr,index,arg-type]
    for model in ("lite0_copy", "efficientnet_lite0"):
        hits = cli(home, "similar", str(first), "--model", model, "--json").json()
        assert {h["clip_id"] for h in hits} == {c["id"] for c in clips} - {first}  # type: ignore[union-attr]
    again = cli(home, "run", "--grace", "0", "--json").json()
    assert "backfill" not in again["claimed"]  # type: ignore[index,operator]
    after = cli(home, "clips", "--json").json()
    assert [(c["id"], c["state"]) for c in after] == [(c["id"], "embedded") for c in clips]  # type: ignore[union-attr]
