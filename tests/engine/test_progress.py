"""The backtest's progress line: simulated time, share of the window, events per second."""

from __future__ import annotations

import io

from engine.app.progress import ProgressLine

T0 = 1_796_615_100_000_000_000  # 2026-12-07T03:45:00Z
S = 1_000_000_000


def test_the_line_names_the_simulated_time_the_share_covered_and_the_rate() -> None:
    line = ProgressLine(io.StringIO(), T0, T0 + 100 * S)
    text = line.text(T0 + 25 * S, 50_000, 2.0)
    assert text == "backtest 2026-12-07 03:45:25 UTC  25.0%  0h00m25s simulated  50,000 events  25,000 events/s"


def test_without_an_end_there_is_no_share_and_done_ends_a_shown_line() -> None:
    out = io.StringIO()
    line = ProgressLine(out, T0, None, every_s=0.0)
    assert "%" not in line.text(T0 + 3_725 * S, 10, 1.0) and "1h02m05s" in line.text(T0 + 3_725 * S, 10, 1.0)
    line.update(T0 + S, 5)
    line.done()
    assert out.getvalue().startswith("\rbacktest ") and out.getvalue().endswith("\n")


def test_nothing_is_written_when_no_update_was_shown() -> None:
    out = io.StringIO()
    line = ProgressLine(out, T0, None, every_s=3600.0)
    line.update(T0 + S, 5)
    line.done()
    assert out.getvalue() == ""
