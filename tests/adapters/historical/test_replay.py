"""Historical data through the engine: the same bus, paper broker and strategies as a live run,
with exact fills on hand-made quotes and bars."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.app.config import load_config
from engine.app.session import run_plan
from engine.errors import UserError
from tests.adapters.historical._strategies import SEEN

T0 = 1_796_615_100_000_000_000  # 2026-12-07T09:15:00+05:30, NSE open
S = 1_000_000_000
INSTRUMENT = {"symbol": "RELIANCE", "tick": 0.5, "lot": 1, "exchange": "NSE"}


def write_config(tmp_path: Path, venue: dict[str, Any], plugin: str) -> Path:
    config = {
        "mode": "backtest",
        "journal": None,
        "venues": {"h": {"type": "historical", "instruments": [INSTRUMENT], **venue}},
        "paper": {"balances": {"INR": 100000}},
        "strategies": [{"name": "s", "plugin": f"tests.adapters.historical._strategies:{plugin}",
                        "instruments": ["h:RELIANCE"]}],
    }
    path = tmp_path / "bt.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


async def backtest(config: Path, tmp_path: Path, **kw: Any) -> tuple[dict[str, Any], list[dict[str, str]]]:
    trades = tmp_path / "trades.csv"
    summary = await run_plan(load_config(config), handle_signals=False, trades=trades, **kw)
    with trades.open() as f:
        return summary, list(csv.DictReader(f))


def fills(rows: list[dict[str, str]]) -> list[tuple[int, str, str, str, str]]:
    return [(int(r["ts_event"]) - T0, r["side"], r["qty"], r["price"], r["liquidity"]) for r in rows]


async def test_quotes_fill_market_at_the_ask_and_a_resting_limit_when_the_bid_reaches_it(tmp_path: Path) -> None:
    data = tmp_path / "q.csv"
    data.write_text("ts,instrument,bid,ask,bid_size,ask_size\n"
                    f"{T0},RELIANCE,100,100.5,10,10\n"
                    f"{T0 + S},RELIANCE,100.5,101,10,10\n"
                    f"{T0 + 2 * S},RELIANCE,101,101.5,10,10\n"
                    f"{T0 + 24_300 * S},RELIANCE,101,101.5,10,10\n")  # 16:00 IST: NSE closed
    summary, rows = await backtest(write_config(tmp_path, {"path": str(data)}, "BuyThenSellQuotes"), tmp_path)
    assert fills(rows) == [(0, "buy", "2", "100.5", "taker"), (2 * S, "sell", "2", "101", "maker")]
    assert SEEN["quotes"] == [(T0, True), (T0 + S, True), (T0 + 2 * S, True), (T0 + 24_300 * S, False)]
    assert summary["pnl"]["realized"] == "1.0"
    assert summary["stop_reason"] == "backtest of 24300s simulated (to the data's end)"


async def test_bars_fill_at_the_next_open_plus_slippage_and_limits_the_bar_trades_through(tmp_path: Path) -> None:
    data = tmp_path / "b.csv"
    data.write_text("ts,instrument,open,high,low,close,volume\n"
                    f"{T0},RELIANCE,100,101,99,100.5,1000\n"
                    f"{T0 + 60 * S},RELIANCE,101,103,100.5,102,1000\n"  # high 103 - slippage 0.5 < the 103 limit
                    f"{T0 + 120 * S},RELIANCE,102,104,101.5,103,1000\n")
    venue = {"path": str(data), "kind": "bars", "bar_seconds": 60, "slippage_ticks": 1}
    _, rows = await backtest(write_config(tmp_path, venue, "BuyThenSellBars"), tmp_path)
    # bought when bar 0 closed, at bar 1's open + 1 tick; sold when bar 2 closed, at the limit
    assert fills(rows) == [(60 * S, "buy", "1", "101.5", "taker"), (180 * S, "sell", "1", "103", "maker")]
    assert [(b.close, b.ts_start - T0, b.ts_event - T0) for b in SEEN["bars"]] == [
        (100.5, 0, 60 * S), (102.0, 60 * S, 120 * S), (103.0, 120 * S, 180 * S)]


async def test_from_and_to_bound_the_replay(tmp_path: Path) -> None:
    data = tmp_path / "q.csv"
    data.write_text("ts,instrument,bid,ask,bid_size,ask_size\n"
                    + "".join(f"{T0 + i * S},RELIANCE,100,100.5,10,10\n" for i in range(10)))
    config = write_config(tmp_path, {"path": str(data)}, "BuyThenSellQuotes")
    summary, rows = await backtest(config, tmp_path, from_ns=T0 + 3 * S, to_ns=T0 + 6 * S)
    assert [ts for ts, _ in SEEN["quotes"]] == [T0 + i * S for i in (3, 4, 5, 6)]
    assert fills(rows)[0][:1] == (3 * S,)
    assert summary["stop_reason"] == "backtest of 3s simulated (to --to)"


async def test_a_bar_length_other_than_the_files_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "b.csv"
    data.write_text(f"ts,instrument,open,high,low,close,volume\n{T0},RELIANCE,100,101,99,100.5,1000\n")
    config = write_config(tmp_path, {"path": str(data), "kind": "bars", "bar_seconds": 60}, "BuyThenSellBars")
    raw = yaml.safe_load(config.read_text())
    raw["strategies"][0]["bars"] = {"seconds": 300}
    config.write_text(yaml.safe_dump(raw))
    with pytest.raises(UserError, match=r"strategies\[0\]\.bars\.seconds: its venue replays 60-second bars"):
        await backtest(config, tmp_path)


async def test_a_historical_venue_outside_a_backtest_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "q.csv"
    data.write_text(f"ts,instrument,bid,ask,bid_size,ask_size\n{T0},RELIANCE,100,100.5,10,10\n")
    config = write_config(tmp_path, {"path": str(data)}, "BuyThenSellQuotes")
    raw = yaml.safe_load(config.read_text())
    raw["mode"] = "paper"
    config.write_text(yaml.safe_dump(raw))
    with pytest.raises(UserError, match="replays only in a backtest"):
        await backtest(config, tmp_path)
