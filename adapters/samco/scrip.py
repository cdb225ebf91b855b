"""The scrip master: Samco's instrument list (ScripMaster.csv), cached on disk with its date.

Columns, as third-party readers of the real file name them [T]: exchange, exchangeSegment,
symbolCode, tradingSymbol, name, lastPrice, instrument, lotSize, strikePrice, expiryDate, tickSize.
`symbolCode` is the streaming id; in the files third parties read it already carries the exchange
("2885_NSE"); a bare listing id gets "_<EXCHANGE>" added. NSE/BSE equities list their trading
symbol with the series ("RELIANCE-EQ"); the engine's symbol drops "-EQ" ("NSE:RELIANCE"), which is
also the `symbolName` placeOrder takes. The file is fetched once per IST day and kept as
`<state_dir>/samco/ScripMaster-<host>-<date>.csv`; older days are deleted. Reading, writing and
parsing the file (tens of thousands of rows) run in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import structlog
from yarl import URL

from adapters.india import NSE_INDEX_FNO, Exchange, make_instrument
from engine.events import Instrument
from engine.venue.values import NotANumber, finite_decimal

log = structlog.get_logger("tickbus.samco.scrip")
SCRIP_MASTER_URL = "https://developers.stocknote.com/doc/ScripMaster.csv"
COLUMNS = (
    "exchange", "exchangeSegment", "symbolCode", "tradingSymbol", "name", "lastPrice",
    "instrument", "lotSize", "strikePrice", "expiryDate", "tickSize",
)
KINDS: dict[str, str] = {
    "EQ": "equity",
    "FUTIDX": "future", "FUTSTK": "future", "FUTCOM": "future", "FUTCUR": "future", "FUT": "future",
    "OPTIDX": "option", "OPTSTK": "option", "OPTFUT": "option", "OPTCUR": "option", "CE": "option", "PE": "option",
}
EXCHANGE_ALIASES = {"MFO": "MCX"}
DEFAULT_TICK = Decimal("0.05")


@dataclass(frozen=True, slots=True)
class Scrip:
    """One row of the scrip master."""

    exchange: str
    symbol_code: str
    trading_symbol: str
    name: str
    instrument: str
    lot: Decimal
    tick: Decimal
    expiry: str = ""
    strike: str = ""
    last_price: str = ""
    segment: str = ""

    @property
    def token(self) -> str:
        """The streaming id, "<listingId>_<EXCHANGE>"."""
        code = self.symbol_code
        return code if "_" in code or code.startswith("-") else f"{code}_{self.exchange}"

    @property
    def symbol(self) -> str:
        """The trading symbol without an equity's "-EQ" series: what placeOrder's symbolName takes."""
        if self.kind == "equity" and self.trading_symbol.endswith("-EQ"):
            return self.trading_symbol[:-3]
        return self.trading_symbol

    @property
    def kind(self) -> str:
        kind = KINDS.get(self.instrument.upper())
        if kind is None and not self.instrument and self.exchange in ("NSE", "BSE"):
            return "equity"
        return kind or ""


def _decimal(value: str, default: Decimal) -> Decimal:
    """A positive lot or tick; `default` when the cell is empty; `NotANumber` for anything else."""
    if not value:
        return default
    parsed = finite_decimal(value)
    if parsed <= 0:
        raise NotANumber(f"{value[:40]!r} is not positive")
    return parsed


def parse(text: str) -> list[Scrip]:
    """The rows of a scrip master CSV (rows without a symbol or exchange are skipped; rows with a
    lot or tick that is no positive number, or that the CSV reader refuses, are dropped and
    counted in one warning)."""
    return parse_counted(text)[0]


def parse_counted(text: str) -> tuple[list[Scrip], int]:
    """`parse`, and how many rows were dropped as malformed."""
    rows: list[Scrip] = []
    dropped = 0
    reader = csv.DictReader(io.StringIO(text))
    for _ in range(text.count("\n") + text.count("\r") + 2):  # bounded: each turn reads at least a line
        try:
            raw = next(reader)
        except StopIteration:
            break
        except csv.Error:  # e.g. a field beyond the reader's limit
            dropped += 1
            continue
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if isinstance(k, str) and isinstance(v, (str, type(None)))}
        exchange = row.get("exchange", "").upper()
        exchange = EXCHANGE_ALIASES.get(exchange, exchange)
        if not exchange or not row.get("tradingSymbol") or not row.get("symbolCode"):
            continue
        try:
            lot = _decimal(row.get("lotSize", ""), Decimal(1))
            tick = _decimal(row.get("tickSize", ""), DEFAULT_TICK)
        except NotANumber:
            dropped += 1
            continue
        rows.append(
            Scrip(
                exchange=exchange,
                symbol_code=row["symbolCode"],
                trading_symbol=row["tradingSymbol"],
                name=row.get("name", ""),
                instrument=row.get("instrument", ""),
                lot=lot,
                tick=tick,
                expiry=row.get("expiryDate", ""),
                strike=row.get("strikePrice", ""),
                last_price=row.get("lastPrice", ""),
                segment=row.get("exchangeSegment", ""),
            )
        )
    if dropped:
        log.warning("scrip master rows dropped as malformed", dropped=dropped, kept=len(rows))
    return rows, dropped


def render(scrips: Iterable[Scrip]) -> str:
    """A scrip master CSV with Samco's columns (the emulator serves it)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for s in scrips:
        writer.writerow(
            (s.exchange, s.segment, s.symbol_code, s.trading_symbol, s.name, s.last_price,
             s.instrument, str(s.lot), s.strike, s.expiry, str(s.tick))
        )
    return out.getvalue()


def instrument(venue: str, scrip: Scrip) -> Instrument | None:
    """The engine's Instrument ("<venue>:NSE:RELIANCE"), or None for what cannot be traded."""
    if not scrip.kind or scrip.exchange not in Exchange.__members__:
        return None
    freeze = None
    if scrip.exchange == Exchange.NFO and scrip.name in NSE_INDEX_FNO:
        freeze = NSE_INDEX_FNO[scrip.name].freeze_qty
    try:
        return make_instrument(venue, scrip.exchange, scrip.symbol, scrip.tick, scrip.lot, scrip.kind, freeze, scrip.token)
    except ValueError:
        return None


class ScripCache:
    """Today's scrip master on disk, one file per source host and IST date."""

    def __init__(self, folder: Path, source_url: str) -> None:
        self.folder = folder
        self.host = (URL(source_url).host or "local").replace(":", "_")

    def path(self, day: date) -> Path:
        return self.folder / f"ScripMaster-{self.host}-{day.isoformat()}.csv"

    def load(self, day: date) -> str | None:
        path = self.path(day)
        try:
            return path.read_text(encoding="utf-8")
        except OSError:
            return None

    def store(self, day: date, text: str) -> None:
        path = self.path(day)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)  # atomic: a crash leaves no half file
        for old in self.folder.glob(f"ScripMaster-{self.host}-*.csv"):
            if old != path:
                old.unlink(missing_ok=True)


async def load_scrips(fetch: Callable[[], Awaitable[str]], cache: ScripCache, day: date) -> list[Scrip]:
    """Today's scrip master: from the cache when it holds today's, else fetched and cached."""
    text = await asyncio.to_thread(cache.load, day)
    if text is None:
        text = await fetch()
        await asyncio.to_thread(cache.store, day, text)
        log.info("scrip master fetched", rows=text.count("\n"), cached=str(cache.path(day)))
    return await asyncio.to_thread(parse, text)
