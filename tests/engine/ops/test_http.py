"""engine.ops.http: the status JSON, server-sent events and the controls, over real sockets on
127.0.0.1 against a paper engine."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import aiohttp
import structlog

from engine.app.config import load_config
from engine.app.session import run_plan
from engine.app.summary import render
from engine.events import OrderStatus
from tests.engine.ops._fixtures import (
    TOKEN,
    Replacer,
    auth,
    get_json,
    ops_engine,
    strategy_orders,
    url,
    wait_open_order,
    write_config,
)
from tests.helpers import until

TIMEOUT = aiohttp.ClientTimeout(total=20)


async def test_status_json_shows_strategies_open_orders_positions_and_feeds(tmp_path: Path) -> None:
    async with ops_engine(tmp_path) as engine, aiohttp.ClientSession(timeout=TIMEOUT) as s:
        await wait_open_order(engine)
        await until(lambda: engine.portfolio.position("sim:BTC-KRW", "taker").qty != 0, timeout=20)
        doc = await get_json(s, url(engine, "/api/status"))
    assert [st["id"] for st in doc["strategies"]] == ["rep", "taker"]
    assert all(st["state"] == "running" for st in doc["strategies"])
    assert any(o["strategy"] == "rep" and o["status"] in ("submitted", "placed") for o in doc["open_orders"])
    assert {"strategy": "taker", "qty": "0.02"}.items() <= doc["positions"][0].items()
    assert doc["fills"] and doc["fills"][0]["strategy"] == "taker"
    assert doc["feeds"][0]["venue"] == "sim"
    assert doc["risk"]["kill_switch"] is None


async def test_a_control_without_the_token_is_refused_and_logged_without_it(tmp_path: Path) -> None:
    with structlog.testing.capture_logs() as logs:
        async with ops_engine(tmp_path) as engine, aiohttp.ClientSession(timeout=TIMEOUT) as s:
            async with s.post(url(engine, "/api/strategies/rep/pause")) as resp:
                no_header = resp.status
            async with s.post(url(engine, "/api/strategies/rep/pause"), headers=auth("wrong-token-xyz")) as resp:
                wrong = resp.status
            paused = engine.hosts[0].paused
    assert (no_header, wrong) == (401, 401)
    assert paused is None
    refusals = [e for e in logs if e["event"].startswith("control refused")]
    assert len(refusals) == 2
    assert "wrong-token-xyz" not in repr(logs) and TOKEN not in repr(logs)


async def test_pausing_a_strategy_refuses_its_new_orders_until_it_is_resumed(tmp_path: Path) -> None:
    async with ops_engine(tmp_path) as engine, aiohttp.ClientSession(timeout=TIMEOUT) as s:
        await wait_open_order(engine)
        async with s.post(url(engine, "/api/strategies/rep/pause"), headers=auth()) as resp:
            assert resp.status == 200
        host = engine.hosts[0]
        count = await strategy_orders(engine, "rep")
        await until(lambda: host.refused_while_paused >= 3, timeout=20)
        assert await strategy_orders(engine, "rep") == count
        strategy = host.strategy
        assert isinstance(strategy, Replacer) and strategy.last is not None
        assert strategy.last.status is OrderStatus.REJECTED
        assert strategy.last.reason == "strategy paused: paused by the operator (http)"
        await until(lambda: len(strategy.rejected) >= 3, timeout=20)  # told through on_order too
        doc = await get_json(s, url(engine, "/api/status"))
        assert doc["strategies"][0]["state"] == "paused"
        async with s.post(url(engine, "/api/strategies/rep/resume"), headers=auth()) as resp:
            assert resp.status == 200
        await until(lambda: len([o for o in engine.manager.orders.values() if o.strategy_id == "rep"]) > count,
                    timeout=20)
    assert [c["action"] for c in engine.controls] == ["pause", "resume"]


async def test_cancel_flatten_cancel_all_and_the_kill_switch(tmp_path: Path) -> None:
    async with ops_engine(tmp_path) as engine, aiohttp.ClientSession(timeout=TIMEOUT) as s:
        await wait_open_order(engine)
        await until(lambda: engine.portfolio.position("sim:BTC-KRW", "taker").qty != 0, timeout=20)
        async with s.post(url(engine, "/api/strategies/taker/flatten"), headers=auth()) as resp:
            flat = await resp.json()
        assert flat["orders"][0]["side"] == "sell" and flat["orders"][0]["qty"] == "0.02"
        await until(lambda: engine.portfolio.position("sim:BTC-KRW", "taker").qty == 0, timeout=20)
        async with s.post(url(engine, "/api/kill_switch"), headers=auth(), json={"on": True}) as resp:
            assert resp.status == 200
        assert engine.risk.halted is not None
        async with s.post(url(engine, "/api/strategies/rep/cancel"), headers=auth()) as resp:
            assert resp.status == 200
        await until(lambda: not engine.manager.open_orders(strategy_id="rep"), timeout=20)
        async with s.post(url(engine, "/api/cancel_all"), headers=auth()) as resp:
            assert resp.status == 200
        async with s.post(url(engine, "/api/strategies/nobody/pause"), headers=auth()) as resp:
            assert resp.status == 404
        async with s.post(url(engine, "/api/kill_switch"), headers=auth(), json={"on": False}) as resp:
            assert resp.status == 200
        assert engine.risk.halted is None
    assert [c["action"] for c in engine.controls] == ["flatten", "kill_switch", "cancel", "cancel_all", "kill_switch"]


async def test_server_sent_events_push_the_status_without_a_reload(tmp_path: Path) -> None:
    async with ops_engine(tmp_path) as engine, aiohttp.ClientSession(timeout=TIMEOUT) as s:
        async with s.get(url(engine, "/api/events")) as resp:
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            docs = []
            async with asyncio.timeout(20):
                async for line in resp.content:
                    if line.startswith(b"data: "):
                        docs.append(json.loads(line[6:]))
                        if len(docs) == 3:
                            break
    assert docs[0]["now_ns"] < docs[2]["now_ns"]
    assert docs[2]["pnl_history"]


async def test_the_page_is_self_contained(tmp_path: Path) -> None:
    async with ops_engine(tmp_path) as engine, aiohttp.ClientSession(timeout=TIMEOUT) as s:
        async with s.get(url(engine, "/")) as resp:
            page = await resp.text()
            kind = resp.headers["Content-Type"]
    assert kind.startswith("text/html")
    assert "EventSource" in page and "<svg" in page
    assert "src=\"http" not in page and "href=\"http" not in page  # no CDN


async def test_http_flag_serves_and_controls_are_in_the_run_summary_and_its_text(tmp_path: Path) -> None:
    port = free_port()
    extra = f'duration_s: 4\nhttp: {{token: "{TOKEN}"}}\n'  # listen from `--http`, as run.py passes it
    plan = load_config(write_config(tmp_path, extra=extra))
    task = asyncio.create_task(run_plan(plan, handle_signals=False, http=f"127.0.0.1:{port}"))
    target = f"http://127.0.0.1:{port}/api/strategies/rep/pause"
    async with aiohttp.ClientSession(timeout=TIMEOUT) as s:
        async with asyncio.timeout(30):
            while True:
                try:
                    async with s.post(target, headers=auth()) as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
    summary = await asyncio.wait_for(task, 60)
    assert [(c["action"], c["target"]) for c in summary["controls"]] == [("pause", "rep")]
    assert "control : pause rep by http" in render(summary)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_no_token_configured_makes_one_in_the_state_dir(tmp_path: Path) -> None:
    async with ops_engine(tmp_path, extra='http: {listen: "127.0.0.1:0"}\n') as engine, \
            aiohttp.ClientSession(timeout=TIMEOUT) as s:
        token = (tmp_path / "var" / "http-token").read_text().strip()
        assert (tmp_path / "var" / "http-token").stat().st_mode & 0o077 == 0
        async with s.post(url(engine, "/api/strategies/rep/pause"), headers=auth(token)) as resp:
            assert resp.status == 200
