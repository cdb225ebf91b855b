"""Where recorded market data goes on disk, and in which columns: the historical venue's layout
(docs/venues/historical.md), so a folder the recorder or `download` wrote is a `type: historical`
venue's `path` as it is.

    DIR/<venue>/quotes/<YYYY-MM-DD>/<symbol>.parquet     ts, instrument, bid, ask, bid_size, ask_size
    DIR/<venue>/trades/<YYYY-MM-DD>/<symbol>.parquet     ts, instrument, price, size, side
    DIR/<venue>/bars_<N>s/<YYYY-MM-DD>/<symbol>.parquet  ts, instrument, open, high, low, close, volume

`ts` is an Arrow timestamp (ns, UTC): the event's time (a bar's start); the day is its UTC date;
`instrument` is the symbol as the venue's instrument ids spell it after "venue:" (what a historical
venue block declares). A symbol is percent-encoded in the file name ("NSE:RELIANCE" ->
NSE%3ARELIANCE.parquet). A file already there is never written over: the next one is
`<symbol>~002.parquet`, and so on, named to sort after it (the historical venue merges files in
time order, equal times in name order). An open file is `<name>.parquet.partial` until closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa

from engine.events import Bar, Quote, Trade

NS = 1_000_000_000
DAY_NS = 86_400 * NS
TS = pa.timestamp("ns", tz="UTC")

SCHEMAS: dict[str, pa.Schema] = {
    "quotes": pa.schema([("ts", TS), ("instrument", pa.string()), ("bid", pa.float64()), ("ask", pa.float64()),
                         ("bid_size", pa.float64()), ("ask_size", pa.float64())]),
    "trades": pa.schema([("ts", TS), ("instrument", pa.string()), ("price", pa.float64()), ("size", pa.float64()),
                         ("side", pa.string())]),
    "bars": pa.schema([("ts", TS), ("instrument", pa.string()), ("open", pa.float64()), ("high", pa.float64()),
                       ("low", pa.float64()), ("close", pa.float64()), ("volume", pa.float64())]),
}


def kind_of(event: Any) -> str:
    return "quotes" if isinstance(event, Quote) else "trades" if isinstance(event, Trade) else "bars"


def folder_of(event: Quote | Trade | Bar) -> str:
    """The kind's folder: quotes, trades, or bars_<seconds>s (one bar length per folder)."""
    if isinstance(event, Bar):
        return f"bars_{event.interval_s}s"
    return kind_of(event)


def ts_of(event: Quote | Trade | Bar) -> int:
    """The row's `ts`: the event's time; a bar's start."""
    return event.ts_start if isinstance(event, Bar) else event.ts_event


def day_text(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns // NS, UTC).strftime("%Y-%m-%d")


def file_stem(symbol: str) -> str:
    return quote(symbol, safe="")


def new_file(root: Path, venue: str, folder: str, day: str, symbol: str) -> Path:
    """The partition's next file: `<symbol>.parquet`, else `<symbol>~002.parquet`, ... (never over one there)."""
    where = root / file_stem(venue) / folder / day
    where.mkdir(parents=True, exist_ok=True)
    stem = file_stem(symbol)
    path = where / f"{stem}.parquet"
    n = 1
    while path.exists() or partial(path).exists():
        n += 1
        path = where / f"{stem}~{n:03d}.parquet"
    return path


def partial(path: Path) -> Path:
    """Where a file is written while it is open; renamed to `path` when closed (a run killed
    outright leaves a `.partial` the historical venue does not read, never a file it cannot)."""
    return path.with_name(path.name + PARTIAL)


PARTIAL = ".partial"


def columns(kind: str, symbol: str, events: Sequence[Any], ts: Sequence[int]) -> pa.Table:
    """One partition's rows as a table in the layout's columns (`ts` given: sorted and in order)."""
    schema = SCHEMAS[kind]
    names = schema.names[2:]
    data: list[Any] = [pa.array(ts, pa.int64()).cast(TS), pa.array([symbol] * len(events), pa.string())]
    if kind == "trades":
        data += [pa.array([e.price for e in events], pa.float64()), pa.array([e.size for e in events], pa.float64()),
                 pa.array([None if e.aggressor is None else e.aggressor.value for e in events], pa.string())]
    else:
        data += [pa.array([getattr(e, name) for e in events], pa.float64()) for name in names]
    return pa.Table.from_arrays(data, schema=schema)


