"""Samco from the command line, in subprocesses: `run.py emulate samco` prints its address first,
the emulated config trades live through the whole adapter path, and the paper config checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import aiohttp

from adapters.samco.emulator import SamcoEmulator
from tests.helpers import REPO, emulate


async def test_the_emulate_command_prints_its_address_first_then_serves_until_sigterm() -> None:
    async with emulate("samco", "--seed", "5") as child:
        info = child.info
        creds = info["credentials"]
        async with aiohttp.ClientSession() as http:
            async with http.post(info["url"] + "/session/token", json={"apiKey": creds["api_key"], "apiSecret": creds["api_secret"]}) as resp:
                session = await resp.json()
            async with http.get(info["url"] + "/limit/getLimits", headers={"x-session-token": session["sessionToken"]}) as resp:
                limits = await resp.json()
        code = await child.terminate()
    stderr = child.stderr

    assert info["venue"] == "samco" and info["url"].startswith("http://127.0.0.1:")
    assert info["ws_url"] == info["url"].replace("http", "ws") + "/stream"
    assert session["status"] == "Success" and session["sessionToken"].count(".") == 2
    assert limits["equityLimit"]["netAvailableMargin"] == "10000000.00" == creds["funds_inr"] + ".00"
    assert code == 0
    assert "/session/token" in stderr and creds["api_secret"] not in stderr and session["sessionToken"] not in stderr


def test_the_emulated_config_trades_live_through_the_whole_adapter_path(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "run.py"), str(REPO / "configs" / "samco_emulated.yaml"), "--duration", "8", "--log-format", "json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    records = [json.loads(line) for line in proc.stderr.splitlines()]

    assert proc.returncode == 0, proc.stderr[-2000:]
    assert summary["mode"] == "live" and summary["fills"] > 0
    assert summary["orders"].get("completed", 0) > 0 and "rejected" not in summary["orders"]
    assert set(summary["orders"]) <= {"completed", "cancelled"}  # nothing left working after the stop
    assert summary["orders_engine"]["refused_transitions"] == 0 and summary["orders_engine"]["duplicate_fills"] == 0
    assert any(r["event"] == "session active" for r in records)
    assert not any(r.get("level") == "error" for r in records)
    demo = SamcoEmulator(seed=5)  # the config's emulator_seed: the same demo key and secret
    assert demo.api_key not in proc.stderr and demo.api_secret not in proc.stderr


def test_the_paper_config_checks_with_credentials_from_the_environment() -> None:
    env = {**os.environ, "SAMCO_API_KEY": "dummy-key-for-check", "SAMCO_API_SECRET": "dummy-secret-for-check"}
    proc = subprocess.run([sys.executable, "run.py", "check", "configs/samco_paper.yaml"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)

    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    venue = plan["venues"]["samco"]
    assert venue["class"] == "adapters.samco.adapter:SamcoVenue" and plan["mode"] == "paper"
    assert venue["config"]["api_key"] == venue["config"]["api_secret"] == "***"
    assert "dummy-secret-for-check" not in proc.stdout and "dummy-key-for-check" not in proc.stdout


def test_the_paper_config_without_credentials_stops_at_once_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMCO_")}
    proc = subprocess.run([sys.executable, str(REPO / "run.py"), str(REPO / "configs" / "samco_paper.yaml"), "--duration", "1"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)

    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "SAMCO_API_KEY" in proc.stderr and "Traceback" not in proc.stderr


def test_the_emulated_config_checks_without_any_credentials() -> None:
    proc = subprocess.run([sys.executable, "run.py", "check", "configs/samco_emulated.yaml"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)

    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["venues"]["samco"]["config"]["emulator"] is True and plan["mode"] == "live"
    start = datetime.fromisoformat(plan["start"])
    assert start == datetime.fromisoformat(plan["venues"]["samco"]["config"]["emulator_start"])  # the clocks agree
    assert start.weekday() < 5 and (start.hour, start.minute) == (9, 20)


def test_a_stop_under_load_cancels_every_order_at_the_pace_of_the_rate_limit(tmp_path: Path) -> None:
    """36 resting orders at 4 requests/s (the stop's cancels take about 16 s, paced by the rate
    limit): nothing is left open, and the balances are the venue's after the cancels."""
    text = (REPO / "configs" / "samco_emulated.yaml").read_text(encoding="utf-8")
    for old, new in [
        ("levels: 3", "levels: 12"), ("duration_s: 30", "duration_s: 12"),
        ("    poll_idle_s: 10.0", "    poll_idle_s: 10.0\n    requests_per_s: 4"),
        ("max_open_orders: 20", "max_open_orders: 60"), ("max_orders_per_second: 10", "max_orders_per_second: 100"),
        ("max_rejects: 10", "max_rejects: 100"), ("max_order_value: 50000", "max_order_value: 500000"),
        ("max_position: 50", "max_position: 500"),
    ]:
        assert old in text
        text = text.replace(old, new)
    config = tmp_path / "stop_under_load.yaml"
    config.write_text(text, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(REPO / "run.py"), str(config), "--log-format", "json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    records = [json.loads(line) for line in proc.stderr.splitlines()]

    assert proc.returncode == 0, proc.stderr[-2000:]
    assert summary["orders"].get("cancelled", 0) >= 20  # the ladders were resting at the stop
    assert set(summary["orders"]) <= {"completed", "cancelled"} and summary["left_open"] == []
    assert [b["locked"] for b in summary["balances"]] == ["0"]
    assert not any(r.get("level") == "error" for r in records)
