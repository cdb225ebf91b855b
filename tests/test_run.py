"""End to end: `python run.py` in a subprocess, from the repository root, as a user runs it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 120  # only there so a hang fails the test; the runs take seconds
# Log events about one order: each must carry the order's client order id.
ORDER_EVENTS = {"order", "fill", "order refused", "order rejected", "transition refused", "overfill",
                "placement outcome unknown", "request refused", "after-market order held"}


def run_py(*args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "run.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]  # fails on any line that is not JSON


def check_ledger(summary: dict[str, Any], initial: dict[str, Any]) -> None:
    """Cash + positions reconcile with PnL and fees, recomputed from the summary's own numbers."""
    rec = summary["reconciliation"]
    assert rec["ok"] is True, rec
    balances = {b["asset"]: Decimal(b["free"]) + Decimal(b["locked"]) for b in summary["balances"] if b["venue"] == "paper"}
    for ccy, c in rec["currencies"].items():
        cash_change = Decimal(c["cash_change"])
        assert cash_change == balances.get(ccy, Decimal(0)) - Decimal(str(initial.get(ccy, 0)))
        assert cash_change + Decimal(c["position_value"]) == Decimal(c["pnl_net"])
    total = summary["pnl"]
    assert Decimal(total["net"]) == Decimal(total["realized"]) + Decimal(total["unrealized"]) - Decimal(total["fees"])
    assert sum(Decimal(c["pnl_net"]) for c in rec["currencies"].values()) == Decimal(total["net"])
    for p in summary["positions"]:  # each base asset changed by the position held
        base = p["instrument"].rsplit(":", 1)[-1].split("-")[0]
        assert balances.get(base, Decimal(0)) - Decimal(str(initial.get(base, 0))) == Decimal(p["qty"])


def test_default_paper_run_trades_and_its_ledger_reconciles() -> None:
    proc = run_py("--duration", "6", "--log-format", "json", "--log-level", "debug")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert summary["run"] == "paper_sma" and summary["mode"] == "paper"
    assert summary["stop_reason"] == "duration of 6s reached"
    assert summary["fills"] > 0
    assert summary["strategies"]["sma"]["fills"] == summary["fills"]  # nothing from an earlier run
    assert Decimal(summary["strategies"]["sma"]["fees"]) > 0
    assert summary["strategies"]["sma"]["errors"] == 0
    assert summary["orders_engine"]["duplicate_fills"] == 0
    assert summary["bus"]["handler_errors"] == 0
    config = yaml.safe_load((ROOT / "configs" / "paper_sma.yaml").read_text())
    check_ledger(summary, config["paper"]["balances"])
    assert "INR" in summary["reconciliation"]["currencies"]
    records = json_lines(proc.stderr)
    assert any(r["event"] == "running" for r in records)
    order_records = [r for r in records if r["event"] in ORDER_EVENTS]
    assert any(r["event"] == "fill" for r in order_records)
    assert all(r.get("client_order_id") for r in order_records), [r for r in order_records if not r.get("client_order_id")]
    fills = [r for r in records if r["event"] == "fill"]
    assert all(r.get("instrument") and r.get("strategy") for r in fills), fills[:3]  # a fill line says whose and what
    assert "Traceback" not in proc.stderr


def test_a_second_default_run_starts_from_a_fresh_paper_account() -> None:
    """The paper account lives in memory: an earlier run's journal must not leak into this one."""
    first = run_py("--duration", "3", "--log-format", "json")
    second = run_py("--duration", "3", "--log-format", "json")
    for proc in (first, second):
        assert proc.returncode == 0, proc.stderr[-2000:]
        summary = json.loads(proc.stdout.splitlines()[-1])
        assert summary["reconciliation"]["ok"] is True
        assert summary["recovery"]["fills"] == 0 and summary["recovery"]["orders"] == 0
        assert summary["orders_engine"]["duplicate_fills"] == 0


def test_grid_config_places_and_cancels_or_fills() -> None:
    proc = run_py("configs/paper_grid.yaml", "--duration", "5", "--log-format", "json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert summary["run"] == "paper_grid"
    assert summary["orders_total"] >= 5  # the ladder
    assert summary["fills"] > 0 or summary["orders"].get("cancelled", 0) > 0
    assert set(summary["orders"]) <= {"completed", "cancelled", "rejected", "expired"}  # cancelled at stop
    config = yaml.safe_load((ROOT / "configs" / "paper_grid.yaml").read_text())
    check_ledger(summary, config["paper"]["balances"])
    json_lines(proc.stderr)


def test_strategies_command_lists_the_builtin_strategies_and_venues() -> None:
    proc = run_py("strategies")
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert lines[0] == "strategies:"
    names = {line.split()[0] for line in lines if line.startswith("  ")}
    assert {"sma_cross", "mean_reversion", "grid", "paper", "synthetic"} <= names
    assert "  sma_cross        strategies.sma_cross:SmaCross" in lines


def test_check_prints_the_resolved_plan_as_json() -> None:
    proc = run_py("check", "configs/paper_sma.yaml")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["name"] == "paper_sma" and plan["mode"] == "paper"
    assert plan["venues"]["sim"]["class"] == "adapters.paper.synthetic:SyntheticVenue"
    assert plan["strategies"] == [
        {
            "name": "sma",
            "class": "strategies.sma_cross:SmaCross",
            "instruments": ["sim:NSE:RELIANCE", "sim:NSE:INFY"],
            "params": {"fast": 3, "slow": 8, "qty": "10"},
            "bars": {"seconds": 5, "source": "quotes"},
        }
    ]
    assert plan["paper"]["balances"] == {"INR": "1000000"}
    assert plan["journal"] == "var/journal/paper_sma.sqlite"


def test_sigint_stops_a_run_cleanly_with_a_summary() -> None:
    proc = subprocess.Popen(
        [sys.executable, "run.py", "--duration", "60", "--log-format", "json"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        time.sleep(3)
        assert proc.poll() is None, "the run ended before it was interrupted"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, err[-3000:]
    summary = json.loads(out.splitlines()[-1])
    assert summary["stop_reason"] == "signal SIGINT"
    assert summary["wall_s"] > 0 and summary["orders_total"] >= 0  # ended by the signal, not the 60 s
    assert summary["reconciliation"]["ok"] is True
    assert "Traceback" not in err


def test_output_cut_short_by_its_reader_ends_quietly() -> None:
    proc = subprocess.Popen([sys.executable, "run.py", "strategies"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    stderr = proc.stderr.read().decode()
    proc.wait(timeout=30)
    assert "Traceback" not in stderr


async def test_emulate_start_sets_the_emulators_clock_and_the_contract_line_carries_it() -> None:
    """A Monday 10:00 IST on a weekend or at night: the emulator's answers are stamped from that start."""
    import asyncio

    import aiohttp

    from tests.helpers import emulate

    async with emulate("samco", "--start", "2026-12-07T10:00:00+05:30", "--speed", "1") as child:
        info = child.info
        creds = info["credentials"]
        async with aiohttp.ClientSession() as http:
            async with http.post(info["url"] + "/session/token", json={"apiKey": creds["api_key"], "apiSecret": creds["api_secret"]}) as resp:
                session = await asyncio.wait_for(resp.json(), 10)
        code = await child.terminate()

    assert info["start"] == "2026-12-07T10:00:00+05:30" and info["speed"] == 1.0
    assert info["url"].startswith("http://127.0.0.1:")
    assert session["status"] == "Success" and session["serverTime"].startswith("07/12/26 10:00:"), session
    assert code == 0


async def test_emulate_speed_runs_the_emulators_clock_faster_than_wall_time() -> None:
    import asyncio

    import aiohttp

    from tests.helpers import emulate

    async with emulate("samco", "--start", "2026-12-07T04:30:00Z", "--speed", "600") as child:
        info = child.info
        creds = info["credentials"]
        await asyncio.sleep(1.5)  # 15 emulated minutes at 600x
        async with aiohttp.ClientSession() as http:
            async with http.post(info["url"] + "/session/token", json={"apiKey": creds["api_key"], "apiSecret": creds["api_secret"]}) as resp:
                session = await asyncio.wait_for(resp.json(), 10)
        await child.terminate()

    assert info["speed"] == 600.0
    day, clock = session["serverTime"].split(" ")
    assert day == "07/12/26" and "10:15:00" <= clock < "11:30:00", session


def test_emulate_start_and_speed_mistakes_are_one_line_and_exit_2() -> None:
    for args, needle in (
        (("--start", "2026-12-07T10:00:00"), "--start"),  # naive: no offset
        (("--start", "next monday"), "--start"),
        (("--start", "2026-12-07T10:00:00+05:30", "--speed", "0"), "--speed"),
        (("--start", "2026-12-07T10:00:00+05:30", "--speed", "fast"), "--speed"),
    ):
        proc = run_py("emulate", "samco", "--port", "0", *args, timeout=30)
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.strip().count("\n") == 0 and needle in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr and proc.stdout == ""


async def test_emulate_faults_are_set_from_the_command_line_and_the_contract_line_gives_the_venue_block() -> None:
    """A bad day rehearsed without code: `--faults burst_5xx=2` fails the next two calls; the first
    line carries every URL and credential a venue block needs (Samco's scrip master too)."""
    import asyncio

    import aiohttp
    import msgspec

    from adapters.samco.adapter import SamcoVenue
    from tests.helpers import emulate

    async with emulate("samco", "--start", "2026-12-07T10:00:00+05:30", "--faults", "burst_5xx=2,burst_status=503") as child:
        info = child.info
        creds = info["credentials"]
        statuses = []
        async with aiohttp.ClientSession() as http:
            for _ in range(3):
                async with http.post(info["url"] + "/session/token", json={"apiKey": creds["api_key"], "apiSecret": creds["api_secret"]}) as resp:
                    statuses.append(resp.status)
                    await asyncio.wait_for(resp.read(), 10)
        await child.terminate()

    assert info["faults"] == {"burst_5xx": 2, "burst_status": 503}
    assert statuses == [503, 503, 200]
    block = info["venue_block"]
    assert block["scrip_master_url"] == info["url"] + "/ScripMaster.csv" and block["ws_url"] == info["ws_url"]
    config = msgspec.convert({k: v for k, v in block.items()}, SamcoVenue.Config)
    assert config.api_key == creds["api_key"] and config.url == info["url"]


def test_emulate_fault_mistakes_are_one_line_and_exit_2() -> None:
    for knobs in ("bogus=1", "error_rate=2", "burst_5xx=many", "latency_ms"):
        proc = run_py("emulate", "samco", "--port", "0", "--faults", knobs, timeout=30)
        assert proc.returncode == 2, (knobs, proc.stderr)
        assert proc.stderr.strip().count("\n") == 0 and "--faults" in proc.stderr, (knobs, proc.stderr)
        assert proc.stdout == ""


FAILING_STRATEGY = """\
from engine.strategy.base import Strategy


class Broken(Strategy):
    def on_quote(self, quote):
        raise RuntimeError("bug in on_quote")
"""


def test_a_run_whose_strategy_its_error_policy_stopped_exits_3_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text(FAILING_STRATEGY, encoding="utf-8")
    config = tmp_path / "broken.yaml"
    config.write_text(yaml.safe_dump({
        "mode": "backtest", "duration_s": 30, "journal": None,
        "venues": {"sim": {"type": "synthetic", "seed": 3,
                           "instruments": [{"symbol": "BTC-KRW", "price": 135000000, "tick": 1000}]}},
        "paper": {"balances": {"KRW": 1000000}},
        "strategies": [{"name": "broken", "plugin": "./broken.py:Broken", "instruments": ["sim:BTC-KRW"],
                        "max_errors": 3}],
    }), encoding="utf-8")
    proc = run_py(str(config))
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "strategy: broken:" in proc.stdout and "STOPPED by its error policy: 3 errors within" in proc.stdout
    assert proc.stderr.rstrip().endswith("exit code 3: stopped by its error policy: broken")
    assert "Traceback" not in proc.stdout
