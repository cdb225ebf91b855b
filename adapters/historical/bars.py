"""The bar-fill model: bar rows -> the quotes the paper broker fills against, then the `Bar`.

When bar N of an instrument closes (at its start + `bar_seconds`), in this order and all at its
close time:

1. the bar's path, as two quotes: open -> low -> high -> close for a rising bar (close >= open),
   open -> high -> low -> close for a falling one. The low's quote has its ask at `low +
   slippage`: a resting buy limit at or above it fills at its own price; the high's quote has
   its bid at `high - slippage`: a resting sell limit at or below it fills at its own price. Each
   offers the bar's volume (no limit when the volume is 0); stops trigger on them;
2. the opening quote of bar N+1 when it follows at once (bid `open - slippage`, ask `open +
   slippage`), else the close's;
3. the `Bar`, published under (instrument, bar_seconds, "venue").

So an order placed in `on_bar` (market, or a limit that crosses) fills at the next bar's open
plus slippage; a limit that does not cross rests and fills when a later bar touches it. After a
gap (the next bar starts later, e.g. the next session) the touch is the bar's close until the next
bar's start, where its opening quote comes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import groupby
from operator import attrgetter

from adapters.historical.reader import Row
from engine.events import Bar, Quote

NS = 1_000_000_000
UNLIMITED = 1e12
VENUE_BARS = "venue"  # the bus key's source for bars a venue publishes itself


class BarFill:
    def __init__(self, bar_seconds: int, ticks: dict[str, float], slippage_ticks: int) -> None:
        self.interval_s = bar_seconds
        self.interval_ns = bar_seconds * NS
        self.ticks = ticks
        self.slippage = slippage_ticks

    def events(self, rows: Iterable[Row]) -> Iterator[Quote | Bar]:
        pending: dict[str, Row] = {}  # instrument -> its bar not yet closed
        for ts, group in groupby(rows, key=attrgetter("ts_event")):
            starting = {row.instrument: row for row in group}  # a second row at the same time wins
            opened: set[str] = set()
            due = sorted((p for p in pending.values() if p.ts_event + self.interval_ns <= ts),
                         key=lambda p: p.ts_event)
            for bar in due:
                nxt = starting.get(bar.instrument)
                follows = nxt is not None and nxt.ts_event == bar.ts_event + self.interval_ns
                yield from self._close(bar, nxt.open if follows and nxt is not None else None)
                del pending[bar.instrument]
                if follows:
                    opened.add(bar.instrument)
            for inst, row in starting.items():
                if inst in pending:  # a row inside a bar still open: the file's bars overlap
                    continue
                if inst not in opened:
                    yield self._touch(inst, row.open, row.volume, ts)
                pending[inst] = row
        for bar in sorted(pending.values(), key=lambda p: p.ts_event):
            yield from self._close(bar, None)

    def _close(self, bar: Row, next_open: float | None) -> Iterator[Quote | Bar]:
        tick = self.ticks[bar.instrument]
        slip = self.slippage * tick
        end = bar.ts_event + self.interval_ns
        size = bar.volume if bar.volume > 0 else UNLIMITED
        low_ask = _px(bar.low + slip)
        high_bid = _px(bar.high - slip)
        low = Quote(bar.instrument, _px(low_ask - tick), low_ask, size, size, end, end)
        high = Quote(bar.instrument, high_bid, _px(high_bid + tick), size, size, end, end)
        if bar.close >= bar.open:
            yield low
            yield high
        else:
            yield high
            yield low
        yield self._touch(bar.instrument, bar.close if next_open is None else next_open, size, end)
        yield Bar(bar.instrument, self.interval_s, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.ts_event, end)

    def _touch(self, inst: str, price: float, size: float, ts: int) -> Quote:
        slip = self.slippage * self.ticks[inst]
        size = size if size > 0 else UNLIMITED
        return Quote(inst, _px(price - slip), _px(price + slip), size, size, ts, ts)


def _px(value: float) -> float:
    """A price off float noise (prices are whole ticks of at most 10 decimals)."""
    return round(value, 10)
