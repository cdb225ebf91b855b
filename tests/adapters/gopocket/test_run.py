"""GoPocket from the command line, in subprocesses: `run.py emulate gopocket` prints its contract
first, `run.py login gopocket CONFIG` end to end against the emulator's login page (an HTTP client
following the redirect), the emulated config trades live, the paper config checks."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from adapters.gopocket.auth import SessionStore, checksum
from adapters.gopocket.emulator import GopocketEmulator
from tests.helpers import REPO, bounded, emulate


async def test_the_emulate_command_prints_its_contract_first_then_serves_until_sigterm() -> None:
    async with emulate("gopocket", "--seed", "5", "--start", "2026-12-07T10:00:00+05:30") as child:
        info = child.info
        creds = info["credentials"]
        check = checksum(creds["user_id"], creds["auth_code"], creds["api_secret"])
        async with aiohttp.ClientSession() as http:
            async with http.post(info["url"] + "/open-api/order/v1/vendor/getUserDetails", json={"checkSum": check}) as resp:
                session = await resp.json()
            token = session["result"][0]["accessToken"]
            async with http.get(info["url"] + "/open-api/order/v1/limits/", headers={"Authorization": f"Bearer {token}"}) as resp:
                limits = await resp.json()
        code = await child.terminate()
    assert info["venue"] == "gopocket" and info["ws_url"] == info["url"].replace("http", "ws") + "/NorenWS/"
    assert set(creds) >= {"user_id", "auth_code", "api_secret", "app_code"}
    assert session["status"] == "Ok" and limits["result"][0]["availableMargin"] == "10000000.00"
    assert code == 0
    assert "getUserDetails" in child.stderr and token not in child.stderr and creds["api_secret"] not in child.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_login_serves_the_redirect_catches_it_and_stores_the_session(
    make_emulator: Callable[..., Awaitable[GopocketEmulator]], tmp_path: Path,
) -> None:
    emulator = await make_emulator()
    emulator.redirect_url = f"http://127.0.0.1:{free_port()}/gopocket/callback"
    config = tmp_path / "gp.yaml"
    config.write_text(
        f"mode: live\nstate_dir: {tmp_path / 'var'}\nvenues:\n  gopocket:\n    type: gopocket\n"
        f"    url: {emulator.url}/\n    login_url: {emulator.url}/\n    user_id: {emulator.user_id}\n"
        f"    app_code: {emulator.app_code}\n    api_secret: \"${{GP_SECRET}}\"\n    redirect_url: {emulator.redirect_url}\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "run.py", "login", "gopocket", str(config), cwd=REPO, env={**os.environ, "GP_SECRET": emulator.api_secret},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        line = (await bounded(proc.stdout.readline(), 30)).decode()
        assert "open this link" in line, line
        link = line.split(": ", 1)[1].strip()
        assert link == f"{emulator.url}/?appcode={emulator.app_code}"
        async with aiohttp.ClientSession() as browser:  # the user's browser: the page, its redirect
            async with browser.get(link) as page:
                text = await page.text()
                assert page.status == 200 and "login received" in text
                assert len(page.history) == 1 and page.history[0].status == 302
        rest = (await bounded(proc.stdout.read(), 30)).decode()
        code = await bounded(proc.wait(), 30)
        errors = (await bounded(proc.stderr.read())).decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert code == 0, errors
    path = tmp_path / "var" / "gopocket" / f"session-{emulator.user_id}.json"
    assert f"session stored in {path}" in rest
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = SessionStore(path).load(emulator.user_id)
    assert token is not None and emulator.live_session(token)
    assert token not in line + rest + errors and emulator.api_secret not in line + rest + errors


def test_the_emulated_config_trades_live_through_the_whole_adapter_path(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "run.py"), str(REPO / "configs" / "gopocket_emulated.yaml"), "--duration", "8",
         "--log-format", "json"], cwd=tmp_path, capture_output=True, text=True, timeout=90,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    records = [json.loads(line) for line in proc.stderr.splitlines()]
    assert summary["mode"] == "live" and summary["fills"] > 0
    assert summary["orders"].get("completed", 0) > 0 and "rejected" not in summary["orders"]
    assert summary["orders_engine"]["refused_transitions"] == 0 and summary["orders_engine"]["duplicate_fills"] == 0
    assert not any(r.get("level") == "error" for r in records)
    demo = GopocketEmulator(seed=5)
    assert demo.api_secret not in proc.stderr and demo.auth_code not in proc.stderr


def test_the_paper_config_checks_without_credentials() -> None:
    proc = subprocess.run([sys.executable, "run.py", "check", "configs/gopocket_paper.yaml"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["venues"]["gopocket"]["class"] == "adapters.gopocket.adapter:GopocketVenue"


def test_login_for_a_venue_without_one_or_on_an_emulator_is_one_line() -> None:
    for args, code in ((["login", "samco", "configs/samco_paper.yaml"], 1), (["login", "gopocket", "configs/gopocket_emulated.yaml"], 2)):
        proc = subprocess.run([sys.executable, "run.py", *args], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert proc.returncode == code, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    assert "needs no login" in proc.stderr
