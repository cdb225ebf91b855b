"""The backtest's progress line on a terminal: simulated time covered, events per second."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TextIO

NS = 1_000_000_000


class ProgressLine:
    """Rewrites one line of `out` at most every `every_s` wall seconds; `done()` ends it."""

    def __init__(self, out: TextIO, start_ns: int, end_ns: int | None, every_s: float = 0.5) -> None:
        self.out = out
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.every_s = every_s
        self.began = time.perf_counter()
        self._next = self.began + every_s
        self.shown = False

    def update(self, now_ns: int, events: int) -> None:
        wall = time.perf_counter()
        if wall < self._next:
            return
        self._next = wall + self.every_s
        self.out.write("\r" + self.text(now_ns, events, wall - self.began) + "\x1b[K")
        self.out.flush()
        self.shown = True

    def text(self, now_ns: int, events: int, wall_s: float) -> str:
        at = datetime.fromtimestamp(now_ns / NS, UTC).strftime("%Y-%m-%d %H:%M:%S")
        covered = (now_ns - self.start_ns) / NS
        share = ""
        if self.end_ns is not None and self.end_ns > self.start_ns:
            share = f" {min(100.0, 100.0 * (now_ns - self.start_ns) / (self.end_ns - self.start_ns)):5.1f}%"
        rate = events / wall_s if wall_s > 0 else 0.0
        return f"backtest {at} UTC{share}  {_span(covered)} simulated  {events:,} events  {rate:,.0f} events/s"

    def done(self) -> None:
        if self.shown:
            self.out.write("\n")
            self.out.flush()


def _span(seconds: float) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h{rest // 60:02d}m{rest % 60:02d}s"
