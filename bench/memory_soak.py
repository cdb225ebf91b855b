"""A paper run at scale, watched from outside: 20 strategies each on all of 200 synthetic
instruments for 60 s of wall time at speed 60, every strategy sending a market order every
`--order-every` quotes (alternating buy and sell per instrument, so every order fills and
finishes), the journal a SQLite file as in any paper run.

The engine runs in a child process; this one reads the child's resident memory (VmRSS in
/proc/<pid>/status) every second. Prints, every 10 s: resident MB, simulated seconds the feed
covered per wall second (the clock runs at `--speed`; a feed that cannot keep up covers fewer),
quotes published, deliveries to strategies, conflations, orders, fills, and orders still held in
memory; then the peak (VmHWM). `--tracemalloc` (slow) adds the lines whose allocations grew after
the order manager's book reached its bound. Asserts nothing.

    python bench/memory_soak.py [--seconds 60] [--speed 60] [--strategies 20] [--instruments 200]
                                [--interval-ms 100] [--order-every 750] [--tracemalloc]
    python bench/memory_soak.py --interval-ms 400 --order-every 190   # a lighter feed, as many orders offered
"""

from __future__ import annotations

import argparse
import asyncio
import json
import linecache
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._common import loop_name, machine, quiet_logs, run_on_best_loop  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PLUGIN = f"{HERE / 'plugins' / 'every_n.py'}:EveryN"
REPORT_EVERY_S = 10


def synthetic_run(name: str, mode: str, *, strategies: int, instruments: int, interval_ms: float, order_every: int,
                  seed: int) -> dict[str, Any]:
    """A run config: `instruments` synthetic KRW markets a step every `interval_ms`, paper
    balances that never run out, and `strategies` EveryN strategies each on all of them."""
    symbols = [f"SYM{i:04d}-KRW" for i in range(instruments)]
    ids = [f"sim:{s}" for s in symbols]
    return {
        "name": name,
        "mode": mode,
        "start": "2026-01-05T00:00:00Z",
        "venues": {"sim": {
            "type": "synthetic", "seed": seed, "interval_ms": interval_ms,
            "instruments": [{"symbol": s, "price": 10_000 + 10 * i, "tick": 1, "size": 50, "trade_prob": 0.0}
                            for i, s in enumerate(symbols)],
        }},
        "paper": {"balances": {"KRW": 10**15, **{s.split("-")[0]: 10**6 for s in symbols}}, "fees": {"bps": 4}},
        "strategies": [{"name": f"s{n:02d}", "plugin": PLUGIN, "instruments": ids,
                        "params": {"order_every": order_every}} for n in range(strategies)],
    }


def config(strategies: int, instruments: int, interval_ms: float, order_every: int, journal: Path) -> dict[str, Any]:
    cfg = synthetic_run("memory_soak", "paper", strategies=strategies, instruments=instruments,
                        interval_ms=interval_ms, order_every=order_every, seed=11)
    cfg.update(journal=str(journal), progress_s=0)
    cfg["paper"]["latency_ms"] = 20
    return cfg


def status_kb(pid: int | str, field: str) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


# --- the child: the engine, and its own figures every second -----------------------------------


async def child(path: Path, seconds: float, speed: float, stats: Path, trace: bool) -> None:
    from engine.app.config import load_config
    from engine.app.runner import Engine

    plan = load_config(path)
    engine = Engine(plan, duration_s=seconds, speed=speed)
    await engine.start()
    out = stats.open("w", encoding="utf-8")

    def emit(kind: str, **fields: Any) -> None:
        out.write(json.dumps({"kind": kind, "t": time.time(), **fields}) + "\n")
        out.flush()

    def figures() -> dict[str, Any]:
        s = engine.manager.stats
        return {
            "quotes": engine.bus.published_by_type().get("Quote", 0),
            "delivered": sum(h.strategy.seen for h in engine.hosts),  # type: ignore[attr-defined]
            "sent": sum(h.strategy.sent for h in engine.hosts),  # type: ignore[attr-defined]
            "queued": sum(h.queue.depth for h in engine.hosts),
            "conflated": engine.bus.stats.conflated,
            "submitted": s.submitted, "fills": s.fills, "retired": s.retired, "rejected": s.risk_rejected,
            "held": len(engine.manager.orders), "sim_ns": engine.clock.now_ns(), "rss_kb": status_kb("self", "VmRSS"),
        }

    snapshots: list[tuple[float, tracemalloc.Snapshot]] = []

    async def sample() -> None:
        for n in range(1, 100_000):
            await asyncio.sleep(max(0.0, started + n - time.perf_counter()))
            row = figures()
            emit("sample", **row)
            if trace and not snapshots and row["retired"]:  # the order manager's book is at its bound from here
                snapshots.append((time.perf_counter() - started, tracemalloc.take_snapshot()))

    if trace:
        tracemalloc.start(1)
    emit("running", loop=loop_name(), **figures())
    started = time.perf_counter()
    sampler = asyncio.get_running_loop().create_task(sample())
    await engine.run()
    wall = time.perf_counter() - started
    sampler.cancel()
    emit("ran", wall=wall, hwm_kb=status_kb("self", "VmHWM"), **figures())
    if trace and snapshots:
        since, first = snapshots[0]
        top = tracemalloc.take_snapshot().compare_to(first, "lineno")[:12]
        emit("tracemalloc", since_s=since, top=[
            {"kb": d.size_diff / 1024, "count": d.count_diff,
             "where": f"{'/'.join(Path(f.filename).parts[-2:])}:{f.lineno}",
             "line": linecache.getline(f.filename, f.lineno).strip()}
            for d in top for f in d.traceback[-1:]])
        tracemalloc.stop()
    t0 = time.perf_counter()
    await engine.stop()
    emit("stopped", stop_s=time.perf_counter() - t0, hwm_kb=status_kb("self", "VmHWM"), **figures())
    out.close()


# --- the parent: starts the child, reads its memory ----------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="wall seconds of the run")
    parser.add_argument("--speed", type=float, default=60.0)
    parser.add_argument("--strategies", type=int, default=20)
    parser.add_argument("--instruments", type=int, default=200)
    parser.add_argument("--interval-ms", type=float, default=100.0, help="simulated ms between steps of an instrument")
    parser.add_argument("--order-every", type=int, default=750,
                        help="quotes a strategy sees between orders (750: ~192k orders a minute if fully fed)")
    parser.add_argument("--tracemalloc", action="store_true", help="in the child (slow): allocations that grew after the first order retired")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--stats", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        quiet_logs()
        run_on_best_loop(child(args.child, args.seconds, args.speed, args.stats, args.tracemalloc))
        return

    offered = args.instruments * 1000 / args.interval_ms * args.speed
    with tempfile.TemporaryDirectory() as tmp:
        path, stats = Path(tmp) / "soak.yaml", Path(tmp) / "stats.jsonl"
        cfg = config(args.strategies, args.instruments, args.interval_ms, args.order_every, Path(tmp) / "soak.sqlite")
        path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
        cmd = [sys.executable, __file__, "--child", str(path), "--stats", str(stats),
               "--seconds", str(args.seconds), "--speed", str(args.speed)] + (["--tracemalloc"] if args.tracemalloc else [])
        launched = time.time()
        proc = subprocess.Popen(cmd, cwd=ROOT)
        rss: list[tuple[float, int]] = []  # (wall time, VmRSS kB)
        deadline = time.perf_counter() + args.seconds + 600
        tick = time.perf_counter()
        while proc.poll() is None and time.perf_counter() < deadline:
            try:
                rss.append((time.time(), status_kb(proc.pid, "VmRSS")))
            except (OSError, ValueError):
                break
            tick += 1.0
            time.sleep(max(0.0, tick - time.perf_counter()))
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        records = [json.loads(line) for line in stats.read_text(encoding="utf-8").splitlines()] if stats.exists() else []
        journal_mb = sum(p.stat().st_size for p in Path(tmp).glob("soak.sqlite*")) / 1e6
    report(args, offered, launched, rss, records, code, journal_mb)


def report(args: argparse.Namespace, offered: float, launched: float, rss: list[tuple[float, int]],
           records: list[dict[str, Any]], code: int, journal_mb: float) -> None:
    by_kind = {r["kind"]: r for r in records}
    print(f"machine: {machine()}  ({os.cpu_count()} CPUs, shared with other work)")
    if "running" not in by_kind or "ran" not in by_kind:
        print(f"the engine did not run to its end (exit {code}); {len(records)} records")
        return
    start, ran = by_kind["running"], by_kind["ran"]
    print(f"loop: {start['loop']}  {args.strategies} strategies x {args.instruments} instruments, "
          f"a step every {args.interval_ms:g} ms simulated, speed {args.speed:g}: {offered:,.0f} quotes/s offered "
          f"({offered * args.strategies:,.0f} strategy deliveries/s), a market order every {args.order_every:,} quotes "
          f"a strategy sees, SQLite file journal, paper latency 20 ms")
    t0 = start["t"]
    steps = [r for r in records if r["kind"] == "sample"]
    print(f"engine built and started in {t0 - launched:.1f} s; resident then {start['rss_kb'] / 1024:.0f} MB")
    print()
    print("| wall s | RSS MB | feed sim-s / wall-s | quotes published | strategy deliveries | conflated | orders "
          "| fills | orders held | queued |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    prev = start
    for n in range(REPORT_EVERY_S, int(args.seconds) + 1, REPORT_EVERY_S):
        row = min(steps, key=lambda r: abs(r["t"] - t0 - n), default=None)
        if row is None or abs(row["t"] - t0 - n) > 1.5:
            continue
        mem = min(rss, key=lambda s: abs(s[0] - row["t"]))[1] / 1024
        feed = (row["quotes"] - prev["quotes"]) / args.instruments * args.interval_ms / 1000 / (row["t"] - prev["t"])
        print(f"| {n} | {mem:.0f} | {feed:.1f} | {row['quotes']:,} | {row['delivered']:,} | {row['conflated']:,} "
              f"| {row['submitted']:,} | {row['fills']:,} | {row['held']:,} | {row['queued']:,} |")
        prev = row
    wall = ran["wall"]
    sim_s = ran["quotes"] / args.instruments * args.interval_ms / 1000
    clock_s = (ran["sim_ns"] - start["sim_ns"]) / 1e9
    during = [mb for t, mb in rss if t0 <= t <= ran["t"]]
    print()
    print(f"run: {wall:.1f} s wall; the clock moved {clock_s:,.0f} simulated s ({clock_s / wall:.1f} per wall s); "
          f"the feed covered {sim_s:,.0f} ({sim_s / wall:.1f} per wall s, {sim_s / clock_s:.0%} of the clock)")
    print(f"quotes published {ran['quotes']:,} = {ran['quotes'] / wall:,.0f}/s ({ran['quotes'] / wall / offered:.0%} "
          f"of offered); strategy deliveries {ran['delivered']:,} = {ran['delivered'] / wall:,.0f}/s; "
          f"conflated {ran['conflated']:,}")
    print(f"orders {ran['submitted']:,} ({ran['rejected']:,} refused by risk), fills {ran['fills']:,}, retired from "
          f"memory {ran['retired']:,}, held in memory at the end {ran['held']:,}; journal on disk {journal_mb:.1f} MB")
    if during:
        print(f"resident during the run: min {min(during) / 1024:.0f} MB, max {max(during) / 1024:.0f} MB "
              f"(sampled every 1 s); peak VmHWM at the end of the run {ran['hwm_kb'] / 1024:.0f} MB")
    late = [(t - t0, mb) for t, mb in rss if t0 + 20 <= t <= ran["t"]]
    if len(late) >= 2:
        slope = (late[-1][1] - late[0][1]) / 1024 / (late[-1][0] - late[0][0]) * 10
        print(f"growth from {late[0][0]:.0f} s to {late[-1][0]:.0f} s: {slope:+.1f} MB per 10 s")
    if "stopped" in by_kind:
        stopped = by_kind["stopped"]
        print(f"stop took {stopped['stop_s']:.1f} s (strategies drained, journal closed); VmHWM after it "
              f"{stopped['hwm_kb'] / 1024:.0f} MB")
    if "tracemalloc" in by_kind:
        tm = by_kind["tracemalloc"]
        print(f"\ntracemalloc (the run is several times slower under it): live at the end less live at "
              f"{tm['since_s']:.0f} s, when the first finished order left the order manager; top 12 lines:")
        for d in tm["top"]:
            print(f"  {d['kb']:+9,.0f} kB {d['count']:+8,} blocks  {d['where']}  {d['line'][:70]}")


if __name__ == "__main__":
    main()
