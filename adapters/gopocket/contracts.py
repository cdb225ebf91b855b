"""The contract master: GoPocket's instrument list, one CSV per exchange, cached on disk per IST day.

Columns the SDK reads [SDK]: Exch, Token, Symbol, Trading Symbol, Lot Size, Expiry Date; the others
(Exchange Segment, Instrument Type, Tick Size, Strike Price, Option Type) are the AliceBlue /
Codifi master's [I]. An equity's engine symbol is `Symbol` ("NSE:SBIN", its Trading Symbol
"SBIN-EQ"); a derivative's is its Trading Symbol. `Token` is the numeric instrument id orders
(`instrumentId`) and the socket (`NSE|3045`) use. Fetched once per IST day and kept as
`<state_dir>/gopocket/contracts-<host>-<EXCH>-<date>.csv` (the host without its port, so an emulator on a new port each run reuses the day's file); older days are deleted.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from yarl import URL

from adapters.india import NSE_INDEX_FNO, Exchange, make_instrument
from engine.events import Instrument

COLUMNS = (
    "Exch", "Exchange Segment", "Token", "Symbol", "Trading Symbol", "Instrument Type", "Lot Size",
    "Tick Size", "Expiry Date", "Strike Price", "Option Type",
)
KINDS = {"EQ": "equity", "FUTIDX": "future", "FUTSTK": "future", "FUTCOM": "future", "FUTCUR": "future",
         "OPTIDX": "option", "OPTSTK": "option", "OPTFUT": "option", "OPTCUR": "option"}


@dataclass(frozen=True, slots=True)
class Contract:
    exchange: str
    token: str
    symbol: str
    trading_symbol: str
    instrument_type: str
    lot: Decimal
    tick: Decimal
    expiry: str = ""
    strike: str = ""
    option_type: str = ""
    segment: str = ""

    @property
    def kind(self) -> str:
        return KINDS.get(self.instrument_type.upper(), "equity" if self.exchange in ("NSE", "BSE") else "")

    @property
    def engine_symbol(self) -> str:
        return self.symbol if self.kind == "equity" else self.trading_symbol


def _decimal(value: str, default: Decimal) -> Decimal:
    try:
        parsed = Decimal(value.strip())
    except (InvalidOperation, AttributeError):
        return default
    return parsed if parsed > 0 else default


def parse(text: str) -> list[Contract]:
    rows = []
    for raw in csv.DictReader(io.StringIO(text)):
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
        exchange = row.get("Exch", "").upper()
        if not exchange or not row.get("Token") or not (row.get("Symbol") or row.get("Trading Symbol")):
            continue
        rows.append(Contract(
            exchange=exchange, token=row["Token"], symbol=row.get("Symbol") or row["Trading Symbol"],
            trading_symbol=row.get("Trading Symbol") or row["Symbol"], instrument_type=row.get("Instrument Type", ""),
            lot=_decimal(row.get("Lot Size", ""), Decimal(1)), tick=_decimal(row.get("Tick Size", ""), Decimal("0.05")),
            expiry=row.get("Expiry Date", ""), strike=row.get("Strike Price", ""), option_type=row.get("Option Type", ""),
            segment=row.get("Exchange Segment", ""),
        ))
    return rows


def render(contracts: Iterable[Contract]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for c in contracts:
        writer.writerow((c.exchange, c.segment, c.token, c.symbol, c.trading_symbol, c.instrument_type, str(c.lot),
                         str(c.tick), c.expiry, c.strike, c.option_type))
    return out.getvalue()


def instrument(venue: str, c: Contract) -> Instrument | None:
    """The engine's Instrument ("<venue>:NSE:SBIN", token "3045"), or None for what cannot be traded."""
    if not c.kind or c.exchange not in Exchange.__members__:
        return None
    freeze = NSE_INDEX_FNO[c.symbol].freeze_qty if c.exchange == Exchange.NFO and c.symbol in NSE_INDEX_FNO else None
    try:
        return make_instrument(venue, c.exchange, c.engine_symbol, c.tick, c.lot, c.kind, freeze, c.token)
    except ValueError:
        return None


class ContractCache:
    """Today's contract master of one exchange on disk, one file per host, exchange and IST date."""

    def __init__(self, folder: Path, source_url: str) -> None:
        self.folder = folder
        self.host = (URL(source_url).host or "local").replace(":", "_")

    def path(self, exchange: str, day: date) -> Path:
        return self.folder / f"contracts-{self.host}-{exchange}-{day.isoformat()}.csv"

    def load(self, exchange: str, day: date) -> str | None:
        try:
            return self.path(exchange, day).read_text(encoding="utf-8")
        except OSError:
            return None

    def store(self, exchange: str, day: date, text: str) -> None:
        path = self.path(exchange, day)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        for old in self.folder.glob(f"contracts-{self.host}-{exchange}-*.csv"):
            if old != path:
                old.unlink(missing_ok=True)


async def load_contracts(fetch: Callable[[], Awaitable[str]], cache: ContractCache, exchange: str, day: date) -> list[Contract]:
    """Today's master of `exchange`: from the cache when it holds today's, else fetched and cached."""
    text = await asyncio.to_thread(cache.load, exchange, day)
    if text is None:
        text = await fetch()
        await asyncio.to_thread(cache.store, exchange, day, text)
    return await asyncio.to_thread(parse, text)
