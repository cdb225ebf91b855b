"""engine.ops.alerts: a Telegram-shaped server and a webhook receiver on 127.0.0.1 get the alerts;
with them down the run is unaffected; secrets never reach a log line."""

from __future__ import annotations

import asyncio
import socket
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web

from engine.app.config import load_config
from engine.app.runner import Engine
from engine.app.session import run_plan
from engine.events import FeedState, FeedStatus, Quote
from engine.ops.alerts import Alerter
from engine.ops.config import AlertsConfig, WebhookConfig
from engine.ops.metrics import render_metrics
from engine.strategy.base import Strategy
from tests.engine.ops._fixtures import ops_engine, write_config
from tests.helpers import until

HERE = "tests.engine.ops.test_alerts"
BOT = "123456:bot-secret-token"


class Raiser(Strategy):
    def on_quote(self, quote: Quote) -> None:
        raise RuntimeError("boom")


class OffTick(Strategy):
    """Sends orders priced off the tick: each is rejected."""

    def on_start(self) -> None:
        self.n = 0

    def on_quote(self, quote: Quote) -> None:
        self.n += 1
        if self.n % 5 == 0 and self.n <= 30:
            self.buy(quote.instrument, "0.01", "1000.5")


class Receiver:
    """A Telegram Bot API look-alike and a webhook endpoint, recording what arrives."""

    def __init__(self) -> None:
        self.telegram: list[tuple[str, dict[str, Any]]] = []
        self.hooks: list[dict[str, Any]] = []
        self.hook_headers: list[str] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/bot{token}/sendMessage", self._telegram)
        app.router.add_post("/hook", self._hook)
        return app

    async def _telegram(self, request: web.Request) -> web.Response:
        self.telegram.append((request.match_info["token"], await request.json()))
        return web.json_response({"ok": True})

    async def _hook(self, request: web.Request) -> web.Response:
        self.hooks.append(await request.json())
        self.hook_headers.append(request.headers.get("X-Key", ""))
        return web.json_response({"ok": True})


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, int]]:
    rec = Receiver()
    runner = web.AppRunner(rec.app(), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield rec, port
    finally:
        await runner.cleanup()


def alerts_config(tmp_path: Path, port: int) -> Path:
    strategies = f"""
        strategies:
          - name: raiser
            plugin: {HERE}:Raiser
            instruments: ["sim:BTC-KRW"]
            max_errors: 2
          - name: offtick
            plugin: {HERE}:OffTick
            instruments: ["sim:BTC-KRW"]
        risk: {{max_rejects: 2, reject_window_s: 600}}
    """
    extra = f"""
        duration_s: 3
        alerts:
          telegram: {{bot_token: "{BOT}", chat_id: "77", api_url: "http://127.0.0.1:{port}",
                      events: [strategy_stopped, kill_switch, run_ended]}}
          webhooks:
            - url: "http://127.0.0.1:{port}/hook"
              events: [order_rejected, strategy_stopped, kill_switch, run_ended]
              headers: {{X-Key: "hook-header-secret"}}
          retries: 1
          backoff_s: 0.05
          timeout_s: 2
    """
    return write_config(tmp_path, extra=extra, strategies=strategies)


async def test_alerts_reach_telegram_and_the_webhook_per_event_kind(tmp_path: Path, receiver: Any) -> None:
    rec, port = receiver
    summary = await asyncio.wait_for(run_plan(load_config(alerts_config(tmp_path, port)), handle_signals=False), 60)
    texts = [body["text"] for _, body in rec.telegram]
    assert {token for token, _ in rec.telegram} == {BOT}
    assert all(body["chat_id"] == "77" for _, body in rec.telegram)
    assert any("strategy stopped: raiser" in t for t in texts)
    assert any("KILL SWITCH" in t for t in texts)
    assert texts[-1].startswith("[ops] run ended")
    kinds = [h["kind"] for h in rec.hooks]
    assert kinds.count("order_rejected") >= 2 and "strategy_stopped" in kinds and "kill_switch" in kinds
    assert kinds[-1] == "run_ended" and rec.hooks[-1]["data"]["orders_total"] == summary["orders_total"]
    assert "fill" not in kinds  # not chosen for either destination
    assert set(rec.hook_headers) == {"hook-header-secret"}


async def test_the_run_is_unaffected_when_the_receivers_are_down_and_no_secret_is_logged(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    with structlog.testing.capture_logs() as logs:
        summary = await asyncio.wait_for(
            run_plan(load_config(alerts_config(tmp_path, port)), handle_signals=False), 60
        )
    assert summary["stop_reason"].startswith("duration")
    assert summary["strategies"]["raiser"]["stopped"] is not None
    assert summary["orders"].get("rejected", 0) >= 2
    failed = [e for e in logs if e["event"] == "alert not delivered"]
    assert failed and {e["destination"] for e in failed} == {"telegram", "webhook[0]"}
    text = repr(logs)
    assert BOT not in text and "hook-header-secret" not in text and f"127.0.0.1:{port}/hook" not in text


async def test_a_full_alert_queue_drops_without_waiting_or_raising() -> None:
    config = AlertsConfig(webhooks=[WebhookConfig(url="http://127.0.0.1:9/x", events=["fill"])], queue_size=3)
    alerter = Alerter(config, "run")
    for i in range(100):
        alerter.notify("fill", {"n": i})
    alerter.notify("run_ended", {})  # no destination wants it: not even queued
    assert alerter.queue.qsize() == 3 and alerter.dropped == 97


async def test_a_stale_feed_is_alerted(tmp_path: Path, receiver: Any) -> None:
    rec, port = receiver
    extra = f"""
        alerts:
          webhooks: [{{url: "http://127.0.0.1:{port}/hook", events: [feed_stale]}}]
    """
    async with ops_engine(tmp_path, extra=extra) as engine:
        status = FeedStatus(venue="sim", state=FeedState.STALE, subscription="BTC-KRW", ts=engine.clock.now_ns())
        engine.bus.publish(status, "sim")
        await until(lambda: bool(rec.hooks), timeout=20)
        assert engine.ops is not None and engine.ops.server is None  # alerts alone serve no page
        assert engine.ops.alerter is not None
        await until(lambda: engine.ops is not None and engine.ops.alerter.destinations[0].sent == 1, timeout=20)
        metrics = render_metrics(engine.ops.state).decode()
        assert 'tickbus_alerts_sent_total{destination="webhook[0]"} 1.0' in metrics
        await engine.ops.finish(None)
    assert rec.hooks[0]["kind"] == "feed_stale" and rec.hooks[0]["data"]["subscription"] == "BTC-KRW"


async def test_alerts_beyond_the_rate_limit_are_dropped_and_counted(receiver: Any) -> None:
    rec, port = receiver
    config = AlertsConfig(webhooks=[WebhookConfig(url=f"http://127.0.0.1:{port}/hook", events=["fill"])], per_minute=2)
    alerter = Alerter(config, "run")
    alerter.start()
    for i in range(5):
        alerter.notify("fill", {"n": i})
    await asyncio.wait_for(alerter.close(), 20)
    assert [h["data"]["n"] for h in rec.hooks] == [0, 1]
    assert alerter.rate_limited == 3


async def test_orders_a_stop_could_not_cancel_are_named_in_the_summary_and_alerted(tmp_path: Path, receiver: Any) -> None:
    """GOPAX's emulator answers every request 503 from just before the stop: the stop's cancel
    rounds end without progress, and each order still open is named, in the summary and an alert."""
    rec, port = receiver
    config = tmp_path / "left_open.yaml"
    config.write_text(textwrap.dedent(f"""
        mode: live
        progress_s: 0
        state_dir: {tmp_path / "var"}
        venues:
          gopax: {{type: gopax, emulator: true, emulator_seed: 32, pairs: ["BTC-KRW"]}}
        strategies:
          - {{name: grid, plugin: grid, instruments: ["gopax:BTC-KRW"], params: {{levels: 3, step_ticks: 20, qty: 0.001}}}}
        risk: {{max_order_value: 5000000, max_open_orders: 20}}
        alerts:
          webhooks: [{{url: "http://127.0.0.1:{port}/hook", events: [orders_left_open]}}]
          retries: 1
          backoff_s: 0.05
    """))
    engine = Engine(load_config(config))
    await asyncio.wait_for(engine.start(), 30)
    try:
        await until(lambda: sum(o.venue_order_id is not None for o in engine.manager.open_orders()) >= 3, timeout=20)
        faults = getattr(engine.emulators[0], "faults")  # noqa: B009 - the emulator's fault knobs
        faults.burst_5xx = 1_000_000
    finally:
        await asyncio.wait_for(engine.stop(), 120)
    summary = engine.summary()
    assert engine.ops is not None
    await engine.ops.finish(summary)

    open_ids = sorted(o["client_order_id"] for o in summary["left_open"])
    assert len(open_ids) >= 3 and open_ids == sorted(o.client_order_id for o in engine.left_open)
    alert = [h for h in rec.hooks if h["kind"] == "orders_left_open"]
    assert len(alert) == 1 and sorted(o["client_order_id"] for o in alert[0]["data"]["orders"]) == open_ids
    assert all(o["venue"] == "gopax" for o in alert[0]["data"]["orders"])
    assert sum(bool(o["venue_order_id"]) for o in alert[0]["data"]["orders"]) >= 3  # (one in flight may have none)


async def test_a_venue_session_that_expires_is_alerted_and_the_metrics_show_the_venue(tmp_path: Path, receiver: Any) -> None:
    """Samco's emulator ends every session mid-run: the venue logs in again by itself, the webhook
    hears `session_expired` once, and /metrics shows the session, the requests by status, the rate
    limiter's headroom and the journal's commit time."""
    rec, port = receiver
    config = tmp_path / "session.yaml"
    config.write_text(textwrap.dedent(f"""
        mode: live
        progress_s: 0
        start: 2026-11-20T09:20:00+05:30
        state_dir: {tmp_path / "var"}
        venues:
          samco: {{type: samco, emulator: true, emulator_seed: 5, symbols: ["NSE:SBIN"], session_check_s: 0.05,
                   poll_fast_s: 0.1, poll_slow_s: 0.2, poll_idle_s: 0.5}}
        strategies:
          - {{name: grid, plugin: grid, instruments: ["samco:NSE:SBIN"], params: {{levels: 2, step_ticks: 1, qty: 1}}}}
        http: {{listen: "127.0.0.1:0", token: "t0k3n-for-the-test", push_s: 0.1}}
        alerts:
          webhooks: [{{url: "http://127.0.0.1:{port}/hook", events: [session_expired]}}]
          retries: 1
          backoff_s: 0.05
    """))
    engine = Engine(load_config(config))
    await asyncio.wait_for(engine.start(), 30)
    try:
        venue = engine.venues["samco"]
        await until(lambda: venue.session_state() == "active" and bool(engine.manager.open_orders()), timeout=20)
        assert getattr(engine.emulators[0], "expire_sessions")()  # noqa: B009 - the emulator's control
        await until(lambda: venue.session_expiries() == 1 and venue.session_state() == "active", timeout=20)
        await until(lambda: any(h["kind"] == "session_expired" for h in rec.hooks), timeout=20)
        assert engine.ops is not None and engine.ops.server is not None
        async with aiohttp.ClientSession() as http, http.get(engine.ops.server.url.rstrip("/") + "/metrics") as resp:
            metrics = await resp.text()
    finally:
        await asyncio.wait_for(engine.stop(), 60)
    assert engine.ops is not None
    await engine.ops.finish(None)
    [alert] = [h for h in rec.hooks if h["kind"] == "session_expired"]
    assert alert["data"]["venue"] == "samco" and alert["data"]["expiries"] == 1
    assert 'tickbus_venue_session{state="active",venue="samco"} 1.0' in metrics
    assert 'tickbus_venue_answers_total{status="200",venue="samco"}' in metrics
    assert 'tickbus_venue_answers_total{status="401",venue="samco"}' in metrics  # the refused token
    assert "tickbus_rate_limit_limit{" in metrics and "tickbus_rate_limit_peak{" in metrics
    commit = [line for line in metrics.splitlines() if line.startswith("tickbus_journal_commit_seconds_total")]
    assert commit and float(commit[0].split()[-1]) > 0
