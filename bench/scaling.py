"""A scaling table for sizing a machine: throughput and memory of a backtest (the inline engine, as
bench/replay.py: synthetic venue, bus, portfolio marks, paper matching) at 1 / 10 / 100 / 1,000
instruments and 1 / 4 / 16 / 64 strategies, every strategy on every instrument, each counting
quotes and sending a market order every `--order-every` quotes it sees (alternating buy and sell
per instrument; 0 for none).

Each cell runs in a child process of its own, for a clean peak (VmHWM), with the same number of
quotes into the engine. Prints quotes/s into the engine, strategy deliveries/s (quotes x
strategies) and peak resident MB per cell as a markdown table, then the engine's start + stop
seconds per cell (not in the rates); asserts nothing.

    python bench/scaling.py [--quotes 200000] [--order-every 1000] [--instruments 1,10,100,1000]
                            [--strategies 1,4,16,64]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._common import loop_name, machine, quiet_logs, run_on_best_loop  # noqa: E402
from bench.memory_soak import status_kb, synthetic_run  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
INTERVAL_MS = 10
CELL_TIMEOUT_S = 600


def config(instruments: int, strategies: int, order_every: int) -> dict[str, Any]:
    return synthetic_run("scaling", "backtest", strategies=strategies, instruments=instruments,
                         interval_ms=INTERVAL_MS, order_every=order_every, seed=5)


async def cell(instruments: int, strategies: int, quotes: int, order_every: int) -> dict[str, Any]:
    """One cell in this process: the figures of one backtest of `quotes` quotes."""
    from engine.app.config import load_config
    from engine.app.runner import Engine

    base_kb = status_kb("self", "VmRSS")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scaling.yaml"
        path.write_text(yaml.safe_dump(config(instruments, strategies, order_every)), encoding="utf-8")
        plan = load_config(path)
        steps = -(-quotes // instruments)
        engine = Engine(plan, duration_s=steps * INTERVAL_MS / 1000)
        t0 = time.perf_counter()
        await engine.start()
        t1 = time.perf_counter()
        await engine.run()
        t2 = time.perf_counter()
        await engine.stop()
        t3 = time.perf_counter()
    return {
        "quotes": engine.bus.published_by_type().get("Quote", 0),
        "delivered": sum(h.strategy.seen for h in engine.hosts),  # type: ignore[attr-defined]
        "fills": engine.manager.stats.fills,
        "elapsed": t2 - t1,
        "start_s": t1 - t0,
        "stop_s": t3 - t2,
        "base_kb": base_kb,
        "hwm_kb": status_kb("self", "VmHWM"),
        "loop": loop_name(),
    }


def run_cell(instruments: int, strategies: int, quotes: int, order_every: int) -> dict[str, Any] | None:
    cmd = [sys.executable, __file__, "--cell", f"{instruments},{strategies},{quotes},{order_every}"]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=CELL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        print(f"  {instruments} x {strategies}: no result within {CELL_TIMEOUT_S} s", flush=True)
        return None
    if proc.returncode != 0:
        print(f"  {instruments} x {strategies}: exit {proc.returncode}: {proc.stderr.strip()[-400:]}", flush=True)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def short(n: float) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.0f}k"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quotes", type=int, default=200_000, help="quotes into the engine per cell")
    parser.add_argument("--order-every", type=int, default=1000, help="quotes a strategy sees between orders; 0: none")
    parser.add_argument("--instruments", default="1,10,100,1000")
    parser.add_argument("--strategies", default="1,4,16,64")
    parser.add_argument("--cell", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cell:
        quiet_logs()
        i, s, q, every = (int(x) for x in args.cell.split(","))
        print(json.dumps(run_on_best_loop(cell(i, s, q, every))))
        return

    instruments = [int(x) for x in args.instruments.split(",")]
    strategies = [int(x) for x in args.strategies.split(",")]
    print(f"machine: {machine()}  ({os.cpu_count()} CPUs, shared with other work)")
    started = time.perf_counter()
    results: dict[tuple[int, int], dict[str, Any] | None] = {}
    for n_inst in instruments:
        for n_strat in strategies:
            r = results[n_inst, n_strat] = run_cell(n_inst, n_strat, args.quotes, args.order_every)
            if r is not None:
                print(f"  {n_inst:>5} instruments x {n_strat:>2} strategies: {r['quotes']:,} quotes in "
                      f"{r['elapsed']:.2f} s = {r['quotes'] / r['elapsed']:,.0f} quotes/s, "
                      f"{r['delivered'] / r['elapsed']:,.0f} deliveries/s, {r['fills']:,} fills, "
                      f"peak {r['hwm_kb'] / 1024:.0f} MB (after imports {r['base_kb'] / 1024:.0f} MB); "
                      f"start {r['start_s']:.1f} s, stop {r['stop_s']:.1f} s", flush=True)
    done = [r for r in results.values() if r is not None]
    loop = done[0]["loop"] if done else "?"
    orders = f"a market order every {args.order_every:,} quotes a strategy sees" if args.order_every else "no orders"
    print(f"\n{args.quotes:,} quotes per cell (backtest, inline bus, {loop}, journal in memory), every strategy on "
          f"every instrument, {orders}; one child process per cell; table in {time.perf_counter() - started:.0f} s\n")
    print("Cells: quotes/s into the engine / strategy deliveries/s / peak RSS MB.\n")
    print("| instruments | " + " | ".join(f"{s} strateg{'y' if s == 1 else 'ies'}" for s in strategies) + " |")
    print("| ---: | " + " | ".join("---" for _ in strategies) + " |")
    for n_inst in instruments:
        cells = []
        for n_strat in strategies:
            r = results[n_inst, n_strat]
            if r is None:
                cells.append("-")
                continue
            rate = r["quotes"] / r["elapsed"]
            cells.append(f"{short(rate)} / {short(r['delivered'] / r['elapsed'])} / {r['hwm_kb'] / 1024:.0f}")
        print(f"| {n_inst:,} | " + " | ".join(cells) + " |")
    print("\nEngine start + stop, seconds (subscribing and unsubscribing the strategies, not in the rates above):\n")
    print("| instruments | " + " | ".join(f"{s} strateg{'y' if s == 1 else 'ies'}" for s in strategies) + " |")
    print("| ---: | " + " | ".join("---:" for _ in strategies) + " |")
    for n_inst in instruments:
        times = [results[n_inst, n] for n in strategies]
        print(f"| {n_inst:,} | " + " | ".join("-" if r is None else f"{r['start_s'] + r['stop_s']:.1f}" for r in times)
              + " |")
    if done:
        base = min(r["base_kb"] for r in done) / 1024
        print(f"\nThe interpreter with the engine imported, before any cell's engine was built: {base:.0f} MB resident.")


if __name__ == "__main__":
    main()
