"""A split run over a real nats-server: core (venues, paper broker, order manager) in one process,
strategies in others, unchanged strategy code trading across the bridge."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections import Counter
from pathlib import Path

from tests.bridge.nats_server import NatsServer
from tests.bridge.split import Role, split_config


def test_two_strategy_processes_trade_through_core_each_order_once_each_fill_to_its_strategy(
    natsd: NatsServer, tmp_path: Path
) -> None:
    config = split_config(tmp_path, natsd.url, {
        "a": {"instrument": "sim:NSE:RELIANCE", "max_orders": 4, "every": 3},
        "b": {"instrument": "sim:NSE:INFY", "max_orders": 6, "every": 2},
    })
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    core = Role(tmp_path, "core", config, "--role", "core", "--duration", "120", "--http", f"127.0.0.1:{port}")
    hosts = {n: Role(tmp_path, n, config, "--role", "strategies", "--only", n, "--duration", "120") for n in "ab"}
    try:
        for name, want in (("a", 4), ("b", 6)):
            hosts[name].wait_for(lambda: len(hosts[name].events("test fill")) >= want, f"{name}: {want} fills")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=10) as resp:  # core's page
            status = json.load(resp)["bridge"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            metrics = resp.read().decode()
        results = {n: h.stop() for n, h in hosts.items()}
        summary = core.stop()
    finally:
        for role in (core, *hosts.values()):
            role.cleanup()
    assert status["connected"] is True and status["commands"]["applied"] == 10 and status["events_backlog"] >= 0
    assert status["events_published"] >= 20  # each order's updates and its fill
    assert "tickbus_bridge_connected 1.0" in metrics and 'tickbus_bridge_commands_total{outcome="applied"} 10.0' in metrics
    bridge = summary["bridge"]
    assert bridge["commands"]["applied"] == 10 and bridge["commands"]["duplicates"] == 0
    for name, want in (("a", 4), ("b", 6)):
        sent = {r["client_order_id"] for r in hosts[name].events("test sent")}
        fills = hosts[name].events("test fill")
        assert len(sent) == want
        assert bridge["strategies"][name] == {"orders": want, "fills": want}  # each order placed once
        assert {f["client_order_id"] for f in fills} == sent  # its own fills, and all of them
        assert max(Counter(f["fill_id"] for f in fills).values()) == 1
        assert results[name]["strategies"][name]["fills"] == want  # its portfolio applied each once
        assert results[name]["strategies"][name]["errors"] == 0
    assert summary["fills"] == 10 and summary["orders"] == {"completed": 10}
