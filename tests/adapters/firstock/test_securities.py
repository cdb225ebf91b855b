"""The configured symbols resolved by securityInfo (token, lot, tick, freeze), kept for the IST day
on disk, and a symbol Firstock does not know stopped in one line."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from adapters.firstock.emulator import FirstockEmulator
from adapters.firstock.securities import ask_symbol
from engine.errors import UserError

from .conftest import start_venue


def test_symbols_are_asked_for_as_firstocks_trading_symbols() -> None:
    assert ask_symbol("NSE:RELIANCE") == ("NSE", "RELIANCE-EQ")
    assert ask_symbol("NFO:NIFTY26NOVFUT") == ("NFO", "NIFTY26NOVFUT")
    assert ask_symbol("NSE:M&M-EQ") == ("NSE", "M&M-EQ")


async def test_instruments_carry_token_lot_tick_and_freeze_and_a_second_connect_reads_the_cache(emulator: FirstockEmulator, tmp_path: Path) -> None:
    first = await start_venue(emulator, tmp_path, mode="paper", symbols=["NSE:RELIANCE", "NFO:NIFTY26NOVFUT"])
    await first.close()
    asked = emulator.requests["POST /V1/securityInfo"]
    second = await start_venue(emulator, tmp_path, mode="paper", symbols=["NSE:RELIANCE", "NFO:NIFTY26NOVFUT"])
    insts = {i.id: i for i in await second.venue.instruments()}
    await second.close()
    assert asked == 2 and emulator.requests["POST /V1/securityInfo"] == 2  # the day's cache, not the venue
    rel, fut = insts["firstock:NSE:RELIANCE"], insts["firstock:NFO:NIFTY26NOVFUT"]
    assert (rel.token, rel.tick_size, rel.lot_size, rel.kind) == ("2885", Decimal("0.05"), Decimal(1), "equity")
    assert (fut.token, fut.freeze_qty, fut.kind) == ("52168", Decimal(1800), "future") and fut.lot_size > 1
    assert list((tmp_path / "firstock").glob("securities-*.json"))


async def test_a_symbol_firstock_does_not_know_is_one_line(emulator: FirstockEmulator, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="Firstock does not know NSE:NOSUCH"):
        await start_venue(emulator, tmp_path, mode="paper", symbols=["NSE:NOSUCH"])
