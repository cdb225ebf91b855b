"""A split run under faults, over a real nats-server: a strategy host SIGKILLed mid-run and started
again, and the NATS server stopped for a few seconds — no order event lost, none told twice to the
strategy, no order placed twice, no command silently dropped."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from tests.bridge.nats_server import NatsServer
from tests.bridge.split import ROOT, TICKER, Role, split_config


def fills_of(*lives: Role) -> list[dict[str, Any]]:
    return [f for life in lives for f in life.events("test fill")]


def sent_by(*lives: Role) -> set[str]:
    return {r["client_order_id"] for life in lives for r in life.events("test sent")}


def test_a_strategy_host_killed_mid_run_gets_every_order_event_it_missed_once(natsd: NatsServer, tmp_path: Path) -> None:
    # a second and a half from an order to its fill: orders are in flight when the host dies
    config = split_config(tmp_path, natsd.url, {"a": {"instrument": "sim:NSE:RELIANCE", "max_orders": 6, "every": 2}},
                          latency_ms=1500)
    core = Role(tmp_path, "core", config, "--role", "core", "--duration", "120")
    first = Role(tmp_path, "a1", config, "--role", "strategies", "--only", "a", "--duration", "120")
    second: Role | None = None
    try:
        first.wait_for(lambda: len(first.events("test sent")) >= 4 and len(fills_of(first)) >= 1, "orders in flight")
        first.kill()
        in_flight = sent_by(first) - {f["client_order_id"] for f in fills_of(first)}
        assert in_flight  # their fills happen while the host is dead
        second = Role(tmp_path, "a2", config, "--role", "strategies", "--only", "a", "--duration", "120")
        lives = (first, second)
        second.wait_for(lambda: len(second.events("test sent")) == 6 and {f["client_order_id"] for f in fills_of(*lives)} == sent_by(*lives),
                        "every order's fill told, across both lives")
        result = second.stop()
        summary = core.stop()
    finally:
        for role in (core, first, *([second] if second else [])):
            role.cleanup()
    fills = fills_of(first, second)
    told_late = {f["client_order_id"] for f in second.events("test fill")} & in_flight
    assert told_late == in_flight  # what it missed came to its next life
    assert max(Counter(f["fill_id"] for f in fills).values()) == 1  # and nothing twice
    orders = len(sent_by(first, second))
    bridge = summary["bridge"]
    assert bridge["commands"]["applied"] == orders and bridge["commands"]["duplicates"] == 0
    assert bridge["strategies"]["a"] == {"orders": orders, "fills": orders}  # each order placed once
    assert summary["orders"] == {"completed": orders}
    assert result["strategies"]["a"]["errors"] == 0


def test_orders_made_while_nats_is_down_are_placed_once_or_refused_back_never_dropped(natsd: NatsServer, tmp_path: Path) -> None:
    config = split_config(tmp_path, natsd.url, {"a": {"instrument": "sim:NSE:RELIANCE", "max_orders": 40, "every": 2}})
    core = Role(tmp_path, "core", config, "--role", "core", "--duration", "120")
    host = Role(tmp_path, "a", config, "--role", "strategies", "--only", "a", "--duration", "120")
    try:
        host.wait_for(lambda: len(fills_of(host)) >= 3, "trading across the bridge")
        natsd.stop()
        time.sleep(3.0)  # the outage: the strategy goes on sending
        natsd.start()  # the same port and store
        host.wait_for(lambda: len(host.events("test sent")) == 40, "all orders made")
        host.wait_for(lambda: all(_ended(host, coid) for coid in sent_by(host)), "every order filled or refused back")
        result = host.stop()
        summary = core.stop()
    finally:
        for role in (core, host):
            role.cleanup()
    sent = sent_by(host)
    filled = {f["client_order_id"] for f in fills_of(host)}
    refused = {coid for coid in sent if _refused(host, coid)}
    assert filled | refused == sent and not filled & refused  # each order: placed, or told it was not
    for role in (host, core):  # both sides lost the server and found it again by themselves
        events = [r["event"] for r in role.logs()]
        assert "nats disconnected, reconnecting" in events and "nats reconnected" in events
    bridge = summary["bridge"]
    assert bridge["commands"]["applied"] == len(filled)
    assert bridge["strategies"]["a"] == {"orders": len(filled), "fills": len(filled)}  # none placed twice
    assert max(Counter(f["fill_id"] for f in fills_of(host)).values()) == 1
    assert result["strategies"]["a"]["errors"] == 0


def _refused(host: Role, coid: str) -> bool:
    return any(r["client_order_id"] == coid and r["status"] == "rejected" for r in host.events("test order"))


def _ended(host: Role, coid: str) -> bool:
    return _refused(host, coid) or any(f["client_order_id"] == coid for f in host.events("test fill"))


def test_core_killed_mid_run_recovers_from_its_journal_and_the_strategies_resume(natsd: NatsServer, tmp_path: Path) -> None:
    """Two strategy hosts trading on GOPAX's emulator, which outlives core (it runs in a process of
    its own): core is SIGKILLed mid-run and started again on its journal; each host says it waits,
    then goes on with no order lost, none placed twice, each fill told to its strategy once.
    (Before, the restarted core's first order events carried the message ids of its last life's and
    the stream dropped them as repeats: fills never reached the strategy.)"""
    emulator = subprocess.Popen([sys.executable, "run.py", "emulate", "gopax", "--port", "0", "--seed", "9"],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    wants = {"a": ("gopax:BTC-KRW", "0.001", 8), "b": ("gopax:ETH-KRW", "0.01", 6)}
    try:
        assert emulator.stdout is not None
        info = json.loads(emulator.stdout.readline())
        creds = info["credentials"]
        config = tmp_path / "core_kill.yaml"
        config.write_text(yaml.safe_dump({
            "mode": "live", "name": "corekill", "progress_s": 0, "state_dir": str(tmp_path / "var"),
            "journal": str(tmp_path / "var" / "journal.sqlite"),
            "venues": {"gopax": {"type": "gopax", "url": info["url"], "ws_url": info["ws_url"], "pairs": ["BTC-KRW", "ETH-KRW"],
                                 "api_key": creds["api_key"], "secret": creds["secret"]}},
            "strategies": [{"name": n, "plugin": f"{TICKER}:Ticker", "instruments": [inst],
                            "params": {"max_orders": k, "every": 3, "qty": qty}} for n, (inst, qty, k) in wants.items()],
            "risk": {"max_order_value": 10_000_000},
            "bus": {"nats": {"url": natsd.url, "stream": "corekill"}},
        }))
        core = Role(tmp_path, "core1", config, "--role", "core", "--duration", "120")
        hosts = {n: Role(tmp_path, n, config, "--role", "strategies", "--only", n, "--duration", "120") for n in wants}
        second: Role | None = None
        try:
            for host in hosts.values():
                host.wait_for(lambda: len(fills_of(host)) >= 2, "trading across the bridge")  # noqa: B023
            core.kill()
            for host in hosts.values():
                host.wait_for(lambda: bool(host.events("core not answering: the strategies wait")), "the host says it waits")  # noqa: B023
            second = Role(tmp_path, "core2", config, "--role", "core", "--duration", "120")
            for name, host in hosts.items():
                host.wait_for(lambda: len(host.events("test sent")) == wants[name][2]  # noqa: B023
                              and {f["client_order_id"] for f in fills_of(host)} == sent_by(host),  # noqa: B023
                              f"{name}: every order filled, across core's two lives")
                host.wait_for(lambda: bool(host.events("core answering again")), "the host says core is back")  # noqa: B023
            results = {n: h.stop() for n, h in hosts.items()}
            summary = second.stop()
        finally:
            for role in (core, *hosts.values(), *([second] if second else [])):
                role.cleanup()
    finally:
        emulator.kill()
        emulator.wait(timeout=30)
    for name, host in hosts.items():
        assert max(Counter(f["fill_id"] for f in fills_of(host)).values()) == 1
        assert results[name]["core_outages"] == 1 and results[name]["strategies"][name]["errors"] == 0
    assert summary["orders"] == {"completed": 14}  # the journal's and the new life's: each once
