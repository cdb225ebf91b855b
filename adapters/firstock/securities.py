"""The securities the engine trades on Firstock: each configured symbol resolved by securityInfo
(token, lot, tick, freeze quantity) and kept for the IST day in `<state_dir>/firstock/`, so a
restart the same day asks nothing. Firstock publishes no security master file we could find; the
per-symbol call is what the public client offers."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import msgspec
import structlog

from adapters import india
from adapters.firstock import schemas as w
from adapters.firstock.parsing import bare_symbol
from engine.errors import AuthError, UserError, VenueError, VenueUnavailable
from engine.events import Instrument

log = structlog.get_logger("tickbus.firstock")
KINDS = {"EQ": "equity", "FUTIDX": "future", "FUTSTK": "future", "OPTIDX": "option", "OPTSTK": "option", "INDEX": "index"}
Ask = Callable[[str, str], Awaitable[w.SecurityInfo]]


def ask_symbol(symbol: str) -> tuple[str, str]:
    """("NSE", "RELIANCE-EQ") for "NSE:RELIANCE": what securityInfo is asked with."""
    exchange, name = india.split_symbol(symbol)
    cash = exchange.segment is india.Segment.CASH_EQUITY
    return str(exchange), f"{name}-EQ" if cash and "-" not in name else name


def instrument(venue: str, info: w.SecurityInfo) -> Instrument:
    kind = KINDS.get(info.instrumentName.upper(), "equity")
    lot = w.dec(info.lotSize) or Decimal(1)
    tick = w.dec(info.tickSize) or Decimal("0.05")
    freeze = w.dec(info.freezeQuantity)
    return india.make_instrument(
        venue, info.exchange, bare_symbol(info.tradingSymbol), tick, lot, kind, freeze_qty=freeze or None, token=info.token,
    )


class SecurityCache:
    """securityInfo answers by symbol, for one IST day, on disk."""

    def __init__(self, folder: Path, day: date) -> None:
        self.path = folder / f"securities-{day.isoformat()}.json"
        self.known: dict[str, w.SecurityInfo] = {}

    def load(self) -> None:
        with contextlib.suppress(OSError, ValueError, msgspec.MsgspecError):
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            self.known = {k: msgspec.convert(v, w.SecurityInfo) for k, v in raw.items()}

    def save(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_bytes(w.encode(self.known))
            tmp.replace(self.path)
        except OSError as exc:  # a cache: never a reason to fail the run
            log.warning("security cache not written", path=str(self.path), error=str(exc))


async def resolve(venue: str, symbols: list[str], ask: Ask, cache: SecurityCache) -> list[Instrument]:
    """The instruments of `symbols` ("NSE:RELIANCE"), from the day's cache or securityInfo."""
    await asyncio.to_thread(cache.load)
    asked = False
    out = []
    for symbol in symbols:
        info = cache.known.get(symbol)
        if info is None:
            info = cache.known[symbol] = await _asked(venue, symbol, ask)
            asked = True
        out.append(instrument(venue, info))
    if asked:
        await asyncio.to_thread(cache.save)
    return out


async def _asked(venue: str, symbol: str, ask: Ask) -> w.SecurityInfo:
    """securityInfo of one configured symbol; a symbol Firstock does not know is the user's one line."""
    try:
        exchange, trading_symbol = ask_symbol(symbol)
    except ValueError as exc:
        raise UserError(f"{venue}: symbols: {exc}") from None
    try:
        return await ask(exchange, trading_symbol)
    except (AuthError, VenueUnavailable):
        raise
    except VenueError as exc:
        raise UserError(f"{venue}: Firstock does not know {symbol} ({exchange} {trading_symbol}): {exc.text}") from None
