"""Bars aggregated from trades or quotes, published as `Bar` events keyed
(instrument, interval_s, source): two strategies asking for the same interval from different
sources each get their own bars, never both."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from engine.events import Bar, Quote, Trade

if TYPE_CHECKING:
    from engine.clock import Clock, TimerHandle
    from engine.data.bus import Bus, Subscription

NS = 1_000_000_000
BarSource = Literal["trades", "quotes"]


class BarAggregator:
    """One instrument, one interval. A bar closes on the first event past its end, or on time."""

    def __init__(self, bus: Bus, clock: Clock, instrument: str, interval_s: int, source: BarSource = "trades") -> None:
        if interval_s <= 0:
            raise ValueError("bar interval must be positive")
        self.bus = bus
        self.clock = clock
        self.instrument = instrument
        self.interval_s = interval_s
        self.source = source
        self._interval_ns = interval_s * NS
        self._start = -1
        self._last_emitted = -1
        self._open = self._high = self._low = self._close = 0.0
        self._volume = 0.0
        self._timer: TimerHandle | None = None
        self.emitted = 0
        self.late = 0
        self._sub: Subscription | None = None

    @property
    def key(self) -> tuple[str, int, str]:
        """The bus key its bars are published under."""
        return (self.instrument, self.interval_s, self.source)

    def start(self) -> None:
        handler = self.on_trade if self.source == "trades" else self.on_quote
        event_type = Trade if self.source == "trades" else Quote
        self._sub = self.bus.subscribe(event_type, handler, keys=[self.instrument], name=f"bars.{self.instrument}")

    def stop(self) -> None:
        if self._sub is not None:
            self._sub.cancel()
            self._sub = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def on_trade(self, trade: Trade) -> None:
        self._add(trade.ts_event, trade.price, trade.size)

    def on_quote(self, quote: Quote) -> None:
        if quote.bid > 0 and quote.ask > 0:
            self._add(quote.ts_event, (quote.bid + quote.ask) * 0.5, 0.0)

    def _add(self, ts: int, price: float, size: float) -> None:
        start = ts - ts % self._interval_ns
        if start != self._start:
            if start <= self._last_emitted or start < self._start:
                # Late: its bar was closed already, or a later bar is open. Taking it would
                # close the open bar early and emit that interval a second time later.
                self.late += 1
                return
            if self._start >= 0:
                self._emit()
            self._start = start
            self._open = self._high = self._low = self._close = price
            self._volume = size
            self._timer = self.clock.call_later((start + self._interval_ns - self.clock.now_ns()) / NS, self._on_time, start)
            return
        if price > self._high:
            self._high = price
        elif price < self._low:
            self._low = price
        self._close = price
        self._volume += size

    def _on_time(self, start: int) -> None:
        if self._start == start:
            self._emit()

    def _emit(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        bar = Bar(
            self.instrument,
            self.interval_s,
            self._open,
            self._high,
            self._low,
            self._close,
            self._volume,
            self._start,
            self._start + self._interval_ns,
        )
        self._last_emitted = self._start
        self._start = -1
        self.emitted += 1
        self.bus.publish(bar, self.key)
