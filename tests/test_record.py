"""Record -> backtest in one step, and `download` from the emulators: a synthetic paper run
recorded and backtested (twice, the same fills), a recording of the GOPAX emulator, candles from the
GOPAX and Samco emulators replayed into `on_bar`. Real files in tmp_path, real sockets on
127.0.0.1; every wait bounded."""

from __future__ import annotations

import asyncio
import csv
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml

from adapters.gopax.adapter import GopaxVenue
from adapters.gopax.emulator import GopaxEmulator
from adapters.india import IST
from adapters.samco.adapter import SamcoVenue
from adapters.samco.emulator import SamcoEmulator
from engine.app.commands import venue_block
from engine.app.config import load_config
from engine.app.runner import Engine
from engine.app.session import run_plan
from engine.events import Bar, Quote
from engine.strategy.base import Strategy
from tests.helpers import REPO as ROOT
from tests.helpers import bounded

S = 1_000_000_000
SIM = {"type": "synthetic", "seed": 7, "interval_ms": 100, "instruments": [
    {"symbol": "NSE:RELIANCE", "price": 1290.5, "tick": 0.05, "size": 400, "move_prob": 0.5},
    {"symbol": "NSE:INFY", "price": 1512.4, "tick": 0.05, "size": 300, "move_prob": 0.5},
]}
SMA = {"name": "sma", "plugin": "sma_cross", "instruments": ["sim:NSE:RELIANCE", "sim:NSE:INFY"],
       "bars": {"seconds": 5, "source": "quotes"}, "params": {"fast": 3, "slow": 8, "qty": 10}}
BARS_SEEN: list[Bar] = []


QUOTES_SEEN: list[Quote] = []


class SeeQuotes(Strategy):
    """Keeps every quote it is given."""

    def on_quote(self, quote: Quote) -> None:
        QUOTES_SEEN.append(quote)


class SeeBars(Strategy):
    """Keeps every bar it is given (the download tests read them back)."""

    def on_bar(self, bar: Bar) -> None:
        BARS_SEEN.append(bar)


def write(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


async def backtest_fills(config: Path, trades: Path) -> list[dict[str, str]]:
    await run_plan(load_config(config), handle_signals=False, trades=trades)
    with trades.open() as f:
        return list(csv.DictReader(f))


async def test_a_recorded_synthetic_paper_run_backtests_with_the_same_strategy_and_the_same_fills_twice(
        tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    live = write(tmp_path / "paper.yaml", {
        "mode": "paper", "duration_s": 2, "speed": 100, "start": "2026-11-20T09:15:00+05:30", "journal": None,
        "venues": {"sim": SIM}, "paper": {"balances": {"INR": 1000000}}, "strategies": [SMA],
        "record": {"dir": str(rec), "flush_s": 0.2},
    })
    engine = Engine(load_config(live), journal_path=None)
    await bounded(engine.start())
    await bounded(engine.run())
    await bounded(engine.stop())
    fed = engine.venues["sim"].published  # type: ignore[attr-defined]
    files = sorted(rec.rglob("*.parquet"))
    assert {f.relative_to(rec).as_posix() for f in files} == {
        f"sim/{kind}/2026-11-20/NSE%3A{sym}.parquet" for kind in ("quotes", "trades") for sym in ("RELIANCE", "INFY")}
    assert sum(pq.ParquetFile(f).metadata.num_rows for f in files) == fed > 1000  # flush at stop lost nothing

    replay = write(tmp_path / "bt.yaml", {
        "mode": "backtest", "journal": None, "paper": {"balances": {"INR": 1000000}}, "strategies": [SMA],
        "venues": {"sim": {"type": "historical", "path": str(rec / "sim" / "quotes"), "instruments": [
            {"symbol": "NSE:RELIANCE", "tick": 0.05, "exchange": "NSE"},
            {"symbol": "NSE:INFY", "tick": 0.05, "exchange": "NSE"}]}},
    })
    first = await backtest_fills(replay, tmp_path / "t1.csv")
    second = await backtest_fills(replay, tmp_path / "t2.csv")
    assert first and first == second, "the recorded market gives the strategy fills, the same each time"
    assert (tmp_path / "t1.csv").read_bytes() == (tmp_path / "t2.csv").read_bytes()


async def test_recording_the_gopax_emulator_gives_quotes_and_trades_files(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    config = write(tmp_path / "gopax.yaml", {
        "mode": "paper", "duration_s": 2.5, "journal": None, "state_dir": str(tmp_path / "var"),
        "venues": {"gopax": {"type": "gopax", "emulator": True, "emulator_seed": 32, "pairs": ["BTC-KRW"]}},
        "record": {"dir": str(rec), "flush_s": 0.5, "instruments": ["gopax:BTC-KRW"]},
    })
    summary = await bounded(run_plan(load_config(config), handle_signals=False), 30)
    quotes = sorted((rec / "gopax" / "quotes").rglob("*.parquet"))
    trades = sorted((rec / "gopax" / "trades").rglob("*.parquet"))
    assert [f.name for f in quotes] == ["BTC-KRW.parquet"] and [f.name for f in trades] == ["BTC-KRW.parquet"]
    q = pq.read_table(quotes[0]).drop_columns(["ts"]).to_pylist()  # ns times do not fit datetime
    t = pq.read_table(trades[0]).drop_columns(["ts"]).to_pylist()
    assert q and t and {r["instrument"] for r in q + t} == {"BTC-KRW"}
    assert all(0 < r["bid"] < r["ask"] for r in q) and all(r["side"] in ("buy", "sell") for r in t)
    assert summary["record"]["rows"] == {"quotes": len(q), "trades": len(t), "bars": 0}

    QUOTES_SEEN.clear()  # the recording replays whole: every row in time order, none malformed
    replay = write(tmp_path / "bt.yaml", {
        "mode": "backtest", "journal": None, "paper": {"balances": {"KRW": 1000000}},
        "venues": {"gopax": {"type": "historical", "path": str(rec / "gopax" / "quotes"),
                             "instruments": [{"symbol": "BTC-KRW", "tick": 1000}]}},
        "strategies": [{"name": "see", "plugin": "tests.test_record:SeeQuotes", "instruments": ["gopax:BTC-KRW"]}],
    })
    await run_plan(load_config(replay), handle_signals=False)
    assert [(x.bid, x.ask, x.bid_size, x.ask_size) for x in QUOTES_SEEN] == [
        (r["bid"], r["ask"], r["bid_size"], r["ask_size"]) for r in q]


def iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / S, UTC).isoformat()


async def run_py(*args: str) -> tuple[int, str, str]:
    """`python run.py ARGS` as a child process (an emulator of this test answers it over a real
    socket): exit code, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "run.py", *args, cwd=ROOT,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await bounded(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await bounded(proc.wait())
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def download(tmp_path: Path, block: dict[str, Any], *args: str) -> tuple[int, str, str]:
    """`run.py download` with the venue block in a config of its own."""
    config = write(tmp_path / "venue.yaml", {"venues": {block["type"]: block}, "state_dir": str(tmp_path / "var")})
    return await run_py("download", block["type"], "--config", str(config), *args)


async def replay_bars(tmp_path: Path, path: Path, symbol: str, tick: float, seconds: int) -> list[Bar]:
    BARS_SEEN.clear()
    config = write(tmp_path / "bars.yaml", {
        "mode": "backtest", "journal": None, "paper": {"balances": {"INR": 1000000, "KRW": 1000000}},
        "venues": {"h": {"type": "historical", "kind": "bars", "bar_seconds": seconds, "path": str(path),
                         "instruments": [{"symbol": symbol, "tick": tick}]}},
        "strategies": [{"name": "see", "plugin": "tests.test_record:SeeBars", "instruments": [f"h:{symbol}"]}],
    })
    await run_plan(load_config(config), handle_signals=False)
    return list(BARS_SEEN)


def history(emulator: Any, start_ns: int, steps: int, step_s: float) -> None:
    """Move the emulator's market `steps` times, `step_s` apart from `start_ns`: its tape of trades."""
    for i in range(steps):
        emulator.clock.set(start_ns + int(i * step_s * S))
        emulator.exchange.step()


async def test_gopax_candles_download_as_bars_a_historical_venue_replays_into_on_bar(tmp_path: Path) -> None:
    emu = GopaxEmulator(seed=7, tick_interval_s=3600)  # the market moves only when the test moves it
    info = await bounded(emu.start())
    try:
        t0 = 1_796_601_600 * S  # 2026-12-07T00:00:00Z
        history(emu, t0, 300, 2.0)  # ten minutes of tape
        candles = await emu_candles(emu, t0)
        out = tmp_path / "out"
        code, _, err = await download(tmp_path, venue_block(GopaxVenue, info), "--symbol", "BTC-KRW",
                                      "--interval", "1m", "--from", iso(t0), "--to", iso(t0 + 600 * S), "--out", str(out))
    finally:
        await bounded(emu.stop())
    assert code == 0, err[-2000:]
    assert [f.name for f in (out / "gopax" / "bars_60s").rglob("*.parquet")] == ["BTC-KRW.parquet"]
    bars = await replay_bars(tmp_path, out / "gopax" / "bars_60s", "BTC-KRW", 1000, 60)
    assert len(bars) == len(candles) >= 9
    assert [(b.ts_start, b.open, b.high, b.low, b.close) for b in bars] == [
        (start * 1_000_000, o, h, lo, c) for start, lo, h, o, c, _ in candles]


async def emu_candles(emu: GopaxEmulator, t0: int) -> list[list[Any]]:
    from adapters.gopax.client import GopaxClient

    client = GopaxClient("gopax", emu.url)
    await client.start()
    try:
        return [list(c) for c in await bounded(client.candles("BTC-KRW", start_ms=t0 // 1_000_000,
                                                              end_ms=(t0 + 600 * S) // 1_000_000, interval_min=1))]
    finally:
        await client.close()


async def test_samco_candles_download_as_bars_a_historical_venue_replays_into_on_bar(tmp_path: Path) -> None:
    start = datetime(2026, 11, 20, 9, 20, tzinfo=IST)
    emu = SamcoEmulator(seed=7, start=start, tick_interval_s=3600)
    info = await bounded(emu.start())
    t0 = int(start.timestamp()) * S
    try:
        history(emu, t0, 300, 2.0)
        block = {**venue_block(SamcoVenue, info), "symbols": ["NSE:RELIANCE"], "stream": False}
        out = tmp_path / "out"
        span = ["--from", iso(t0), "--to", iso(t0 + 600 * S), "--out", str(out)]
        five = await download(tmp_path, block, "--symbol", "NSE:RELIANCE", "--interval", "5m", *span)
        day = await download(tmp_path, block, "--symbol", "NSE:RELIANCE", "--interval", "1d", *span)
    finally:
        await bounded(emu.stop())
    assert five[0] == day[0] == 0, five[2][-2000:] + day[2][-2000:]
    bars = await replay_bars(tmp_path, out / "samco" / "bars_300s", "NSE:RELIANCE", 0.05, 300)
    # a tape from 09:20:00 to 09:29:58 IST in 5-minute candles aligned to IST midnight
    assert [datetime.fromtimestamp(b.ts_start / S, IST).strftime("%H:%M") for b in bars] == ["09:20", "09:25"]
    assert all(b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high and b.volume > 0 for b in bars)
    daily = await replay_bars(tmp_path, out / "samco" / "bars_86400s", "NSE:RELIANCE", 0.05, 86_400)
    assert len(daily) == 1 and daily[0].high == max(b.high for b in bars) and daily[0].low == min(b.low for b in bars)


async def test_download_refusals_are_one_line_and_exit_2(tmp_path: Path) -> None:
    span = ["--from", "2026-12-07T00:00:00Z", "--to", "2026-12-07T01:00:00Z", "--out", str(tmp_path / "o")]
    sim = {"type": "synthetic", "instruments": [{"symbol": "X", "price": 100, "tick": 0.5}]}
    assert await download(tmp_path, sim, "--symbol", "X", "--interval", "1m", *span) == (
        2, "", "download: synthetic: this venue has no historical candles to download\n")
    assert await download(tmp_path, sim, "--symbol", "Y", "--interval", "1m", *span) == (
        2, "", "--symbol: venue 'synthetic' has no instrument 'Y' (it has: X)\n")
    assert await download(tmp_path, sim, "--symbol", "X", "--interval", "soon", *span) == (
        2, "", "--interval: expected a length like 1m, 5m, 1h, 1d or seconds, got 'soon'\n")
    code, _, err = await run_py("download", "gopax", "--emulator", "--symbol", "BTC-KRW", "--interval", "2m", *span)
    assert code == 2 and err.endswith("--interval: GOPAX candles come in 1, 5, 30, 1440 minutes, not 120 s\n")
    blocked = tmp_path / "file"
    blocked.write_text("x")
    assert await run_py("download", "gopax", "--symbol", "BTC-KRW", "--interval", "1m", *span[:4], "--out",
                        str(blocked)) == (2, "", f"--out: cannot write to {blocked}: it is a file, not a folder\n")


async def test_download_with_emulator_runs_end_to_end(tmp_path: Path) -> None:
    now = time.time_ns()  # the emulator's market starts at the wall clock
    code, out, err = await run_py("download", "gopax", "--emulator", "--symbol", "BTC-KRW", "--interval", "1m",
                                  "--from", iso(now - 3600 * S), "--to", iso(now + 3600 * S), "--out", str(tmp_path / "o"))
    assert code == 0, err[-2000:]
    assert "bars of gopax:BTC-KRW (60s) written to" in out
