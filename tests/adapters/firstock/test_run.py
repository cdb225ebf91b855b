"""Firstock from the command line, in subprocesses: `run.py emulate firstock` prints its contract
first, the emulated config trades live through the whole adapter path without credentials, and
the paper config checks with credentials from the environment (and stops in one line without)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import aiohttp

from adapters.firstock.auth import password_hash, totp_code
from adapters.firstock.emulator import FirstockEmulator
from tests.helpers import REPO, emulate

ENV_NAMES = ("FIRSTOCK_USER_ID", "FIRSTOCK_PASSWORD", "FIRSTOCK_TOTP_SECRET", "FIRSTOCK_VENDOR_CODE", "FIRSTOCK_API_KEY")


async def test_the_emulate_command_prints_its_contract_first_then_serves_until_sigterm() -> None:
    async with emulate("firstock", "--seed", "5", "--start", "2026-11-20T09:20:00+05:30") as child:
        info = child.info
        c = info["credentials"]
        start_ns = int(datetime.fromisoformat(info["start"]).timestamp() * 1e9)
        login = {"userId": c["user_id"], "password": password_hash(c["password"]), "TOTP": totp_code(c["totp_secret"], start_ns),
                 "vendorCode": c["vendor_code"], "apiKey": c["api_key"]}
        async with aiohttp.ClientSession() as http:
            async with http.post(info["url"] + "/V1/login", json=login) as resp:
                session = await resp.json()
            jkey = session["data"]["susertoken"]
            async with http.post(info["url"] + "/V1/limit", json={"userId": c["user_id"], "jKey": jkey, "actid": c["user_id"]}) as resp:
                limits = await resp.json()
        code = await child.terminate()
    stderr = child.stderr
    assert info["venue"] == "firstock" and info["url"].startswith("http://127.0.0.1:")
    assert info["ws_url"] == info["url"].replace("http", "ws") + "/V2/ws"
    assert set(c) >= {"user_id", "password", "totp_secret", "vendor_code", "api_key"}
    assert session["status"] == "success" and limits["data"]["cash"] == c["funds_inr"] + ".00"
    assert code == 0
    assert "/V1/login" in stderr and c["password"] not in stderr and jkey not in stderr and c["api_key"] not in stderr


def test_the_emulated_config_trades_live_through_the_whole_adapter_path(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "run.py"), str(REPO / "configs" / "firstock_emulated.yaml"), "--duration", "8", "--log-format", "json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    records = [json.loads(line) for line in proc.stderr.splitlines()]
    assert summary["mode"] == "live" and summary["fills"] > 0
    assert summary["orders"].get("completed", 0) > 0 and "rejected" not in summary["orders"]
    assert set(summary["orders"]) <= {"completed", "cancelled"}  # nothing left working after the stop
    assert summary["orders_engine"]["refused_transitions"] == 0 and summary["orders_engine"]["duplicate_fills"] == 0
    assert any(r["event"] == "session live" for r in records)
    assert not any(r.get("level") == "error" for r in records)
    demo = FirstockEmulator(seed=5)  # the config's emulator_seed: the same demo account
    assert not [k for k, v in demo.credentials().items() if k != "funds_inr" and v in proc.stderr]


def test_the_paper_config_checks_with_credentials_from_the_environment() -> None:
    env = {**os.environ, **{name: f"dummy-{name.lower()}" for name in ENV_NAMES}}
    proc = subprocess.run([sys.executable, "run.py", "check", "configs/firstock_paper.yaml"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    venue = plan["venues"]["firstock"]
    assert venue["class"] == "adapters.firstock.adapter:FirstockVenue" and plan["mode"] == "paper"
    assert all(venue["config"][k] == "***" for k in ("password", "totp_secret", "api_key"))
    assert not any(f"dummy-{name.lower()}" in proc.stdout for name in ("FIRSTOCK_PASSWORD", "FIRSTOCK_TOTP_SECRET", "FIRSTOCK_API_KEY"))


def test_the_paper_config_without_credentials_stops_at_once_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRSTOCK_")}
    proc = subprocess.run([sys.executable, str(REPO / "run.py"), str(REPO / "configs" / "firstock_paper.yaml"), "--duration", "1"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "FIRSTOCK_TOTP_SECRET" in proc.stderr and "Traceback" not in proc.stderr


def test_the_emulated_config_checks_without_any_credentials() -> None:
    proc = subprocess.run([sys.executable, "run.py", "check", "configs/firstock_emulated.yaml"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["venues"]["firstock"]["config"]["emulator"] is True and plan["mode"] == "live"
    start = datetime.fromisoformat(plan["start"])
    assert start == datetime.fromisoformat(plan["venues"]["firstock"]["config"]["emulator_start"])  # the clocks agree
    assert start.weekday() < 5 and (start.hour, start.minute) == (9, 20)
