"""The historical venue: files of quotes, trades or bars replayed through the bus in a backtest,
to the same paper broker and strategies a live run uses. See docs/venues/historical.md."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import structlog

from adapters.historical.bars import BarFill
from adapters.historical.config import HistoricalConfig, HistoricalInstrument
from adapters.historical.reader import FileReader, FileReplay, display, find_files, merge
from adapters.simulation.hours import MarketHours
from engine.errors import NotSupported, UserError
from engine.events import Instrument, instrument_id
from engine.venue.contract import Channel, Venue, VenueContext

log = structlog.get_logger("tickbus.historical")
_FAR = 2**62


class HistoricalVenue(Venue[HistoricalConfig]):
    Config = HistoricalConfig
    supports_execution = False

    def __init__(self, ctx: VenueContext, config: HistoricalConfig) -> None:
        super().__init__(ctx, config)
        self.config: HistoricalConfig = config
        self.where = f"{ctx.config_file}: venues.{ctx.name}" if ctx.config_file else f"venues.{ctx.name}"
        self._instruments = [self._instrument(spec) for spec in config.instruments]
        self._index = {spec.symbol: i for i, spec in enumerate(config.instruments)}
        self.hours = MarketHours()
        self.readers: list[FileReader] = []
        self.replays: list[FileReplay] = []

    def _instrument(self, spec: HistoricalInstrument) -> Instrument:
        base, dash, quote = spec.symbol.partition("-")
        india = spec.exchange in ("NSE", "BSE", "NFO", "BFO", "MCX", "CDS")
        return Instrument(
            id=instrument_id(self.name, spec.symbol), venue=self.name, symbol=spec.symbol,
            base=spec.base or (base if dash else spec.symbol),
            quote=spec.quote or (quote if dash else "INR" if india else "USD"),
            exchange=spec.exchange, tick_size=spec.tick, lot_size=spec.lot, min_qty=spec.lot,
            kind="spot" if dash else "equity",
        )

    async def connect(self) -> None:
        if self.ctx.mode != "backtest":
            raise UserError(f"{self.where}: a historical venue replays only in a backtest "
                            "(mode: backtest, or python run.py backtest CONFIG)")
        if not self._instruments:
            raise UserError(f"{self.where}.instruments: declare the instruments in the files (symbol, tick, lot, exchange)")
        self.readers = [FileReader(path, self.config, self.where) for path in find_files(self.config.path, self.where)]

    async def close(self) -> None:
        for replay in self.replays:
            stats = replay.stats
            log.info("historical file replayed", file=display(replay.reader.path), rows=stats.rows,
                     replayed=stats.replayed, malformed=stats.malformed, unknown_instruments=stats.unknown or None)

    async def instruments(self) -> Sequence[Instrument]:
        return list(self._instruments)

    async def subscribe(self, instruments: Sequence[str], channels: Sequence[Channel]) -> None:
        raise NotSupported(self.name, "a historical venue replays only in a backtest")

    def market_is_open(self, instrument: Instrument, ts_ns: int) -> bool | None:
        return self.hours.is_open(instrument, ts_ns)

    def replay_bar_seconds(self) -> int | None:
        return self.config.bar_seconds if self.config.kind == "bars" else None

    def replay_start_ns(self) -> int | None:
        """The earliest time in the files (each file's first row that converts)."""
        firsts = []
        for reader in self.readers:
            probe = FileReplay(FileReader(reader.path, self.config, self.where), self.config, self._ids(), self._index,
                               lambda *_: None)
            first = next(probe.events(-_FAR, _FAR), None)
            if first is not None:
                firsts.append(first.ts_event)
        return min(firsts) if firsts else None

    def _ids(self) -> list[str]:
        return [inst.id for inst in self._instruments]

    def replay(self, start_ns: int, end_ns: int) -> Iterator[Any]:
        self.replays = [FileReplay(r, self.config, self._ids(), self._index, self._malformed) for r in self.readers]
        # a bar is replayed when it closes: one that starts a bar's length before `start_ns` is in
        start = start_ns - (self.config.bar_seconds * 1_000_000_000 if self.config.kind == "bars" else 0)
        merged = merge([replay.events(start, end_ns) for replay in self.replays])
        if self.config.kind != "bars":
            return merged
        ticks = {inst.id: float(inst.tick_size) for inst in self._instruments}
        return BarFill(self.config.bar_seconds, ticks, self.config.slippage_ticks).events(merged)

    def _malformed(self, file: str, line: int, reason: str) -> None:
        log.warning("malformed row skipped", file=display(Path(file)), line=line, reason=reason)
