"""The scrip master: parsed into instruments with Samco's tokens, ticks, lots and NSE's freeze
limits; cached on disk for the IST day; narrowed by the config's symbols."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.samco.emulator import SamcoEmulator
from adapters.samco.scrip import ScripCache, instrument, load_scrips, parse
from engine.errors import UserError

from .conftest import bounded, start_venue

HEADER = "exchange,exchangeSegment,symbolCode,tradingSymbol,name,lastPrice,instrument,lotSize,strikePrice,expiryDate,tickSize\n"


def test_rows_become_instruments_with_token_tick_lot_and_freeze() -> None:
    text = HEADER + (
        "NSE,CASH,2885,RELIANCE-EQ,RELIANCE,1290.50,EQ,1,,,0.05\n"
        "NSE,CASH,11915_NSE,YESBANK-EQ,YESBANK,22.41,EQ,1,,,0.01\n"
        "NFO,FNO,52201_NFO,NIFTY26NOV26000CE,NIFTY,182.35,OPTIDX,65,26000,2026-11-23,0.05\n"
        "NFO,FNO,52410_NFO,RELIANCE26NOVFUT,RELIANCE,1296.20,FUTSTK,500,,2026-11-23,0.10\n"
        "NSE,INDEX,-21,Nifty 50,NIFTY,26100.00,INDEX,1,,,0.05\n"
        "XYZ,?,1,WHAT,WHAT,1,EQ,1,,,0.05\n"
    )

    insts = [i for i in (instrument("samco", s) for s in parse(text)) if i is not None]

    by_id = {i.id: i for i in insts}
    assert set(by_id) == {"samco:NSE:RELIANCE", "samco:NSE:YESBANK", "samco:NFO:NIFTY26NOV26000CE", "samco:NFO:RELIANCE26NOVFUT"}
    reliance = by_id["samco:NSE:RELIANCE"]
    assert (reliance.token, reliance.base, reliance.quote, reliance.kind) == ("2885_NSE", "RELIANCE", "INR", "equity")
    assert by_id["samco:NSE:YESBANK"].tick_size == Decimal("0.01")
    option = by_id["samco:NFO:NIFTY26NOV26000CE"]
    assert (option.lot_size, option.freeze_qty, option.kind, option.min_qty) == (Decimal(65), Decimal(1800), "option", Decimal(65))
    future = by_id["samco:NFO:RELIANCE26NOVFUT"]
    assert (future.lot_size, future.freeze_qty, future.tick_size) == (Decimal(500), None, Decimal("0.10"))


async def test_the_master_is_fetched_once_a_day_and_yesterdays_file_is_dropped(tmp_path: Path) -> None:
    fetched: list[int] = []

    async def fetch() -> str:
        fetched.append(1)
        return HEADER + "NSE,CASH,2885_NSE,RELIANCE-EQ,RELIANCE,1290.50,EQ,1,,,0.05\n"

    cache = ScripCache(tmp_path, "https://developers.stocknote.com/doc/ScripMaster.csv")
    first = await bounded(load_scrips(fetch, cache, date(2026, 11, 19)))
    again = await bounded(load_scrips(fetch, cache, date(2026, 11, 19)))
    next_day = await bounded(load_scrips(fetch, cache, date(2026, 11, 20)))

    assert first == again == next_day and len(fetched) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["ScripMaster-developers.stocknote.com-2026-11-20.csv"]


async def test_a_second_connect_the_same_day_reads_the_cache(emulator: SamcoEmulator, tmp_path: Path) -> None:
    for _ in range(2):
        h = await start_venue(emulator, tmp_path, mode="paper")
        count = len(await h.venue.instruments())
        await h.close()

    assert emulator.requests["GET /ScripMaster.csv"] == 1 and count == 40
    assert (tmp_path / "samco" / "ScripMaster-127.0.0.1-2026-11-20.csv").exists()


async def test_the_configs_symbols_narrow_the_instruments_and_an_unknown_one_is_one_line(emulator: SamcoEmulator, tmp_path: Path) -> None:
    h = await start_venue(emulator, tmp_path, mode="paper", symbols=["NSE:INFY", "NFO:BANKNIFTY26NOVFUT"])
    got = {i.id: i for i in await h.venue.instruments()}
    await h.close()
    with pytest.raises(UserError, match="not in Samco's scrip master: NSE:NOSUCH"):
        await start_venue(emulator, tmp_path, mode="paper", symbols=["NSE:NOSUCH"])

    assert set(got) == {"samco:NSE:INFY", "samco:NFO:BANKNIFTY26NOVFUT"}
    assert (got["samco:NFO:BANKNIFTY26NOVFUT"].lot_size, got["samco:NFO:BANKNIFTY26NOVFUT"].freeze_qty) == (Decimal(30), Decimal(600))
