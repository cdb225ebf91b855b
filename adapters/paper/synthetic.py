"""A market-data-only venue: the seeded random walk of `engine.data.synthetic`, live or replayed."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterator, Sequence
from decimal import Decimal

import msgspec
import structlog

from engine.data.synthetic import RandomWalk, WalkSpec
from engine.events import Instrument, Quote, Trade, instrument_id
from engine.venue.contract import Channel, Venue, VenueConfig, VenueContext

log = structlog.get_logger("tickbus.synthetic")


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
        self._wanted: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self.published = 0

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

    async def subscribe(self, instruments: Sequence[str], channels: Sequence[Channel]) -> None:
        self._wanted.update(instruments)
        if self._task is None and self._walk is not None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"{self.name}.walk")

    async def _run(self) -> None:
        walk = self._walk
        assert walk is not None
        clock = self.ctx.clock
        publish = self.ctx.bus.publish
        interval = self.config.interval_ms / 1000.0
        wanted = [i for i, inst in enumerate(self._instruments) if inst.id in self._wanted]
        while True:
            await clock.sleep(interval)
            now = clock.now_ns()
            for index in wanted:
                quote, trade = walk.step(index, now)
                publish(quote, quote.instrument)
                if trade is not None:
                    publish(trade, trade.instrument)
                    self.published += 1
                self.published += 1

    def replay(self, start_ns: int, end_ns: int) -> Iterator[Quote | Trade]:
        if self._walk is None:
            return iter(())
        interval_ns = int(self.config.interval_ms * 1_000_000)
        steps = max((end_ns - start_ns) // interval_ns, 0)
        return self._walk.events(start_ns, interval_ns, steps)
