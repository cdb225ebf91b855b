"""A sample of the mutated-config campaign (bench/config_campaign.py runs 5,000): no traceback."""

from __future__ import annotations

from pathlib import Path

from tests.engine.config_mutations import CONFIGS, campaign


def test_the_shipped_configs_are_all_found() -> None:
    assert len(CONFIGS) >= 5


def test_mutated_configs_load_or_are_refused_in_one_line(tmp_path: Path) -> None:
    crashes = campaign(300, tmp_path, seed=20261206)
    assert not crashes, "\n\n".join(f"{name}: {data}\n{tb}" for name, data, tb in crashes[:3])
