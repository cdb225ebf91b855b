"""engine.ops.metrics: /metrics in the Prometheus text format, read from the engine's counters."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from engine.events import FeedState, FeedStatus
from engine.ops.metrics import reject_reason
from tests.engine.ops._fixtures import auth, get_json, ops_engine, url, wait_open_order
from tests.helpers import until

TIMEOUT = aiohttp.ClientTimeout(total=20)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def scrape(engine: object, s: aiohttp.ClientSession) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with s.get(url(engine, "/metrics")) as resp:  # type: ignore[arg-type]
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        return samples(await resp.text())


async def test_metrics_count_events_orders_fills_latency_and_strategy_state(tmp_path: Path) -> None:
    async with ops_engine(tmp_path) as engine, aiohttp.ClientSession(timeout=TIMEOUT) as s:
        await wait_open_order(engine)
        await until(lambda: engine.manager.stats.fills >= 1, timeout=20)
        async with s.post(url(engine, "/api/strategies/rep/pause"), headers=auth()) as resp:
            assert resp.status == 200
        await until(lambda: engine.hosts[0].refused_while_paused >= 1, timeout=20)
        await until(lambda: bool(engine.hosts[0].feed_latency), timeout=30)  # one quote in 64 is timed
        m = await scrape(engine, s)
        published = engine.bus.stats.published
    assert 0 < m[("tickbus_bus_events_total", ())] <= published
    assert m[("tickbus_bus_events_by_type_total", (("type", "Quote"),))] > 0
    assert m[("tickbus_bus_events_by_type_total", (("type", "Fill"),))] >= 1
    assert m[("tickbus_fills_total", ())] >= 1
    assert m[("tickbus_orders", (("status", "completed"), ("venue", "paper")))] >= 1
    assert m[("tickbus_order_ack_latency_seconds_count", (("venue", "paper"),))] >= 1
    assert m[("tickbus_strategy_state", (("state", "paused"), ("strategy", "rep")))] == 1
    assert m[("tickbus_strategy_state", (("state", "running"), ("strategy", "taker")))] == 1
    assert m[("tickbus_strategy_refused_paused_total", (("strategy", "rep"),))] >= 1
    assert m[("tickbus_strategy_errors_total", (("strategy", "rep"),))] == 0
    assert m[("tickbus_kill_switch", ())] == 0
    assert m[("tickbus_controls_total", ())] == 1
    assert m[("tickbus_journal_records_total", ())] >= 1 and m[("tickbus_journal_commits_total", ())] >= 1
    assert ("tickbus_bus_conflated_total", ()) in m and ("tickbus_bus_handler_errors_total", ()) in m
    age = m[("tickbus_feed_to_strategy_seconds", (("quantile", "0.99"), ("strategy", "rep")))]
    assert 0 <= m[("tickbus_feed_to_strategy_seconds", (("quantile", "0.5"), ("strategy", "rep")))] <= age < 5


async def test_rejects_are_counted_by_reason(tmp_path: Path) -> None:
    async with ops_engine(tmp_path) as engine, aiohttp.ClientSession(timeout=TIMEOUT) as s:
        async with s.post(url(engine, "/api/kill_switch"), headers=auth(), json={"on": True, "reason": "test 42"}) as r:
            assert r.status == 200
        await until(lambda: engine.manager.stats.risk_rejected >= 2, timeout=20)
        m = await scrape(engine, s)
    assert m[("tickbus_rejects", (("reason", "kill switch"),))] >= 2
    assert m[("tickbus_kill_switch", ())] == 1


def test_reject_reasons_become_few_labels() -> None:
    assert reject_reason("order value 123.5 above max_order_value 100") == "order value N above max_order_value N"
    assert reject_reason("insufficient balance: 5 KRW needed, 1 free") == "insufficient balance"
    assert reject_reason(None) == "unknown"


async def test_feed_health_from_feed_status_events_shows_on_the_page_and_in_metrics(tmp_path: Path) -> None:
    async with ops_engine(tmp_path) as engine, aiohttp.ClientSession(timeout=TIMEOUT) as s:
        now = engine.clock.now_ns()
        engine.bus.publish(FeedStatus(venue="sim", state=FeedState.CONNECTED, ts=now), "sim")
        engine.bus.publish(FeedStatus(venue="sim", state=FeedState.STALE, subscription="BTC-KRW", ts=now), "sim")
        m = await scrape(engine, s)
        doc = await get_json(s, url(engine, "/api/status"))
        engine.bus.publish(FeedStatus(venue="sim", state=FeedState.CONNECTED, subscription="BTC-KRW", ts=now), "sim")
        after = await scrape(engine, s)
    assert m[("tickbus_feed_unhealthy", (("venue", "sim"),))] == 1
    assert {"venue": "sim", "subscription": "BTC-KRW", "state": "stale"}.items() <= doc["feeds"][1].items()
    assert after[("tickbus_feed_unhealthy", (("venue", "sim"),))] == 0
