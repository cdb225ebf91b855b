"""A market-data-only venue: the seeded random walk of `engine.data.synthetic`, live or replayed.

An instrument on an exchange with sessions (NSE, BSE, ...) is quoted only while its market is
open, by `adapters.simulation.hours`; the others around the clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Iterator, Sequence
from decimal import Decimal

import msgspec
import structlog

from adapters.simulation.hours import MarketHours
from engine.data.synthetic import RandomWalk, WalkSpec
from engine.events import Instrument, Quote, Trade, instrument_id
from engine.venue.contract import Channel, Venue, VenueConfig, VenueContext

log = structlog.get_logger("tickbus.synthetic")
NS = 1_000_000_000
_CATCH_UP_S = 0.1  # wall seconds of steps published back to back, at most, when the feed is behind


class SyntheticInstrument(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One simulated market. `symbol` "NSE:RELIANCE" trades on NSE; "BTC-KRW" is base-quote."""

    symbol: str
    price: float
    tick: Decimal
    lot: Decimal = Decimal(1)
    exchange: str | None = None
    base: str | None = None
    quote: str | None = None
    spread_ticks: int = 1
    size: float = 100.0
    move_prob: float = 0.4
    trade_prob: float = 0.3
    reversion: float = 0.002


class SyntheticConfig(VenueConfig, kw_only=True, forbid_unknown_fields=True):
    seed: int = 1
    interval_ms: float = 100.0
    instruments: list[SyntheticInstrument] = []


class SyntheticVenue(Venue[SyntheticConfig]):
    Config = SyntheticConfig
    supports_execution = False

    def __init__(self, ctx: VenueContext, config: SyntheticConfig) -> None:
        super().__init__(ctx, config)
        self.config: SyntheticConfig = config
        self._instruments = [self._instrument(spec) for spec in config.instruments]
        self._walk = RandomWalk(
            [
                WalkSpec(
                    instrument=inst.id,
                    price=spec.price,
                    tick=float(spec.tick),
                    spread_ticks=spec.spread_ticks,
                    size=spec.size,
                    move_prob=spec.move_prob,
                    trade_prob=spec.trade_prob,
                    reversion=spec.reversion,
                )
                for inst, spec in zip(self._instruments, config.instruments, strict=True)
            ],
            seed=config.seed,
        ) if config.instruments else None
        self.hours = MarketHours()
        self._wanted: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self.published = 0
        self.step_ns = 0  # the grid time of the latest step published (the feed's own clock)

    def _instrument(self, spec: SyntheticInstrument) -> Instrument:
        exchange, sep, rest = spec.symbol.partition(":")
        if not sep:
            exchange, rest = spec.exchange or "SIM", spec.symbol
        base, dash, quote = rest.partition("-")
        return Instrument(
            id=instrument_id(self.name, spec.symbol),
            venue=self.name,
            symbol=spec.symbol,
            base=spec.base or (base if dash else rest),
            quote=spec.quote or (quote if dash else "INR" if exchange in ("NSE", "BSE") else "USD"),
            exchange=spec.exchange or exchange,
            tick_size=spec.tick,
            lot_size=spec.lot,
            min_qty=spec.lot,
            kind="spot" if dash else "equity",
        )

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    @classmethod
    def known_symbols(cls, config: VenueConfig) -> Collection[str]:
        assert isinstance(config, SyntheticConfig)
        return [spec.symbol for spec in config.instruments]

    async def instruments(self) -> Sequence[Instrument]:
        return list(self._instruments)

    def market_is_open(self, instrument: Instrument, ts_ns: int) -> bool | None:
        return self.hours.is_open(instrument, ts_ns)

    async def subscribe(self, instruments: Sequence[str], channels: Sequence[Channel]) -> None:
        self._wanted.update(instruments)
        if self._task is None and self._walk is not None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"{self.name}.walk")

    async def _run(self) -> None:
        """A step every `interval_ms` on a fixed schedule, each stamped with its own grid time (the
        quotes `replay` would give from the same start). Behind schedule (a busy loop, a fast clock),
        every due step goes out back to back, as a socket reader takes all that is buffered, letting
        the loop turn every `_CATCH_UP_S` of wall time; the strategies' queues conflate what they
        cannot keep up with."""
        walk = self._walk
        assert walk is not None
        clock = self.ctx.clock
        publish = self.ctx.bus.publish
        interval_ns = int(self.config.interval_ms * 1_000_000)
        wanted = [i for i, inst in enumerate(self._instruments) if inst.id in self._wanted]
        sessions = Sessions(self.hours, self._instruments)
        until, opened = sessions.until, sessions.opened
        due = clock.now_ns()
        turn_ends = 0.0
        while True:
            due += interval_ns
            wait_ns = due - clock.now_ns()
            if wait_ns > 0:
                await clock.sleep(wait_ns / NS)
                turn_ends = time.perf_counter() + _CATCH_UP_S
            elif time.perf_counter() > turn_ends:
                await asyncio.sleep(0)  # let the strategies and the loop's other work run
                turn_ends = time.perf_counter() + _CATCH_UP_S
            for index in wanted:
                if due >= until[index]:
                    sessions.refresh(index, due)
                if not opened[index]:
                    continue
                quote, trade = walk.step(index, due)
                publish(quote, quote.instrument)
                if trade is not None:
                    publish(trade, trade.instrument)
                    self.published += 1
                self.published += 1
            self.step_ns = due

    def replay(self, start_ns: int, end_ns: int) -> Iterator[Quote | Trade]:
        if self._walk is None:
            return iter(())
        interval_ns = int(self.config.interval_ms * 1_000_000)
        steps = max((end_ns - start_ns) // interval_ns, 0)
        if not any(self.hours.has_sessions(inst) for inst in self._instruments):
            return self._walk.events(start_ns, interval_ns, steps)
        return self._in_sessions(start_ns, interval_ns, start_ns + steps * interval_ns)

    def _in_sessions(self, start_ns: int, interval_ns: int, last_ns: int) -> Iterator[Quote | Trade]:
        """Every `interval_ns`, one step of each instrument whose market is open; while every
        market is closed, straight on to the first opening."""
        walk = self._walk
        assert walk is not None
        step = walk.step
        sessions = Sessions(self.hours, self._instruments)
        until, opened = sessions.until, sessions.opened
        count = len(self._instruments)
        ts = start_ns
        while ts < last_ns:
            ts += interval_ns
            quoted = False
            for i in range(count):
                if ts >= until[i]:
                    sessions.refresh(i, ts)
                if opened[i]:
                    quoted = True
                    quote, trade = step(i, ts)
                    yield quote
                    if trade is not None:
                        yield trade
            if not quoted:  # the grid point before the first opening: the loop's step lands on it
                k = -(-(min(until) - start_ns) // interval_ns)
                ts = max(ts, start_ns + (k - 1) * interval_ns)


class Sessions:
    """Per instrument: whether its market is open and until when, asked of the hours only then."""

    def __init__(self, hours: MarketHours, instruments: Sequence[Instrument]) -> None:
        self.hours = hours
        self.instruments = list(instruments)
        self.until = [-1] * len(self.instruments)
        self.opened = [False] * len(self.instruments)

    def refresh(self, index: int, ts_ns: int) -> None:
        inst = self.instruments[index]
        if not self.hours.has_sessions(inst):
            self.opened[index], self.until[index] = True, 2**62
        elif self.hours.is_open(inst, ts_ns):
            self.opened[index], self.until[index] = True, self.hours.session_close(inst, ts_ns)
        else:
            self.opened[index], self.until[index] = False, self.hours.next_open(inst, ts_ns)
