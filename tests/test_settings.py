"""config.toml's threshold belongs to its detector: it is on that detector's scale."""

from __future__ import annotations

from pathlib import Path

import pytest

from heaters.library import Library
from heaters.settings import ConfigError, Settings, load, set_value
from tests.conftest import cli


def test_a_flag_naming_a_detector_of_another_scale_drops_the_config_threshold() -> None:
    config = Settings(detector="hybrid", threshold=2.5)
    # ContentDetector's 2.5 would cut at every frame that moves: its own default instead.
    assert config.with_overrides(detector="pyscenedetect").threshold is None
    assert config.with_overrides(detector="transnetv2").threshold is None
    assert config.with_overrides(detector="content").threshold == 2.5  # the same scale
    assert config.with_overrides(detector="pyscenedetect", threshold=20.0).threshold == 20.0
    assert Settings(detector="transnetv2", threshold=0.3).with_overrides().threshold == 0.3


def test_run_settings_with_another_detector_on_the_command_line(tmp_path: Path) -> None:
    set_value(tmp_path, "threshold", "2.5")
    lib = Library.open(tmp_path)
    try:
        assert lib.run_settings(detector="pyscenedetect").threshold is None
        assert lib.run_settings(detector="content").threshold == 2.5
        assert lib.run_settings().threshold == 2.5
    finally:
        lib.close()


def test_config_refuses_a_threshold_its_detector_cannot_use(tmp_path: Path) -> None:
    set_value(tmp_path, "detector", "transnetv2")
    with pytest.raises(ConfigError, match="probability below 1.*config.toml is transnetv2"):
        set_value(tmp_path, "threshold", "3")
    assert load(tmp_path).threshold is None  # nothing written
    set_value(tmp_path, "threshold", "0.3")
    assert load(tmp_path).threshold == 0.3


def test_config_refuses_a_detector_of_another_scale_than_its_threshold(tmp_path: Path) -> None:
    set_value(tmp_path, "threshold", "3")
    with pytest.raises(ConfigError, match="threshold 3 in config.toml is hybrid's"):
        set_value(tmp_path, "detector", "transnetv2")
    assert load(tmp_path).detector == "hybrid"  # nothing written
    set_value(tmp_path, "detector", "content")  # the same scale: the threshold still means it
    set_value(tmp_path, "threshold", "none")
    set_value(tmp_path, "detector", "transnetv2")
    assert (load(tmp_path).detector, load(tmp_path).threshold) == ("transnetv2", None)


def test_a_config_threshold_that_does_not_fit_says_where_it_comes_from(home: Path) -> None:
    """A file edited by hand (config refuses to write it): `run` names config.toml."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text('detector = "transnetv2"\nthreshold = 3.0\n')
    res = cli(home, "run")
    assert res.code == 2
    assert res.stderr.strip() == (
        "error: transnetv2's threshold is a probability below 1, got 3.0"
        " (the threshold is config.toml's)"
    )
    res = cli(home, "config", "detector", "transnetv2")
    assert res.code == 2 and "probability below 1" in res.stderr
