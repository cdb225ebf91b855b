"""`run.py download VENUE`: a venue's historical candles -> bars files in the recorded layout
(`layout.py`), which a `type: historical` venue with `kind: bars` replays into `on_bar`.

Venue-agnostic: the venue is connected as a run would connect it (market data only, its emulator
first with `--emulator`) and asked `Venue.candles(...)`; a venue without candles says so in one line.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import msgspec

from engine.clock import RealtimeClock
from engine.data.bus import Bus
from engine.errors import NotSupported, UserError
from engine.events import Balance, Bar, Fill, OrderReport
from engine.record.sink import PartitionSink
from engine.venue.contract import Emulator, Venue, VenueConfig, VenueContext

_INTERVAL = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_interval(text: str) -> int:
    """`--interval`: 60, 60s, 1m, 5m, 1h, 1d -> seconds."""
    match = _INTERVAL.match(text.lower())
    seconds = int(match.group(1)) * _UNIT_S[match.group(2)] if match else 0
    if seconds <= 0:
        raise UserError(f"--interval: expected a length like 1m, 5m, 1h, 1d or seconds, got {text!r}")
    return seconds


class _Nowhere:
    """The execution sink of a venue connected only for market data: nothing arrives."""

    def on_order_report(self, report: OrderReport) -> None: ...

    def on_fill(self, fill: Fill) -> None: ...

    def on_balance(self, balance: Balance) -> None: ...


async def download(
    cls: type[Venue[Any]], config: VenueConfig, *, name: str, symbol: str, interval_s: int, start_ns: int,
    end_ns: int, out: Path, emulator: bool = False, state_dir: Path = Path("var"),
) -> dict[str, Any]:
    """Fetch the candles and write them; what was written, for the command to print."""
    started: Emulator | None = None
    if emulator:
        config = msgspec.structs.replace(config, emulator=True)  # as `emulator: true` in a run: in-process, quiet
        started = cls.make_emulator(config, config.emulator_seed)
        if started is None:
            raise UserError(f"--emulator: venue {name!r} has no emulator")
        config = cls.with_emulator(config, await started.start())
    ctx = VenueContext(name=name, bus=Bus(), clock=RealtimeClock(), sink=_Nowhere(), state_dir=state_dir, mode="paper")
    venue = cls(ctx, config)
    try:
        await venue.connect()
        bars = await _candles(venue, symbol, interval_s, start_ns, end_ns)
    finally:
        try:
            await venue.close()
        finally:
            if started is not None:
                await started.stop()
    sink = PartitionSink(out)
    await asyncio.to_thread(_write, sink, bars)
    return {"venue": name, "instrument": f"{name}:{symbol}", "interval_s": interval_s, "bars": len(bars),
            "files": sink.stats.files, "path": str(out / name / f"bars_{interval_s}s")}


async def _candles(venue: Venue[Any], symbol: str, interval_s: int, start_ns: int, end_ns: int) -> list[Bar]:
    iid = f"{venue.name}:{symbol}"
    known = sorted(i.id for i in await venue.instruments())
    if iid not in known:
        sample = ", ".join(k.partition(":")[2] for k in known[:8]) + (", ..." if len(known) > 8 else "")
        raise UserError(f"--symbol: venue {venue.name!r} has no instrument {symbol!r} (it has: {sample or 'none'})")
    try:
        bars = await venue.candles(symbol, interval_s, start_ns, end_ns)
    except NotSupported as exc:
        raise UserError(f"download: {exc}") from None
    return sorted((b for b in bars if b.ts_start <= end_ns and b.ts_event > start_ns), key=lambda b: b.ts_start)


def _write(sink: PartitionSink, bars: list[Bar]) -> None:
    try:
        if bars:
            sink.write(bars)
    finally:
        sink.close()
