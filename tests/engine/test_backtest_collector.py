"""The collector settings a backtest replays under, and their restoration."""

from __future__ import annotations

import gc

import pytest

from engine.app.backtest import _GEN0_THRESHOLD, collector_for_throughput


def test_a_replay_collects_its_young_generation_less_often_and_leaves_the_collector_as_it_found_it() -> None:
    before = gc.get_threshold()
    with collector_for_throughput():
        assert gc.get_threshold() == (_GEN0_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 0  # long-lived objects out of every pass
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_the_collector_is_restored_when_the_replay_fails() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), collector_for_throughput():
        raise RuntimeError("a strategy's bug")
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
