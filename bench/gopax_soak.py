"""Rate-limit soak against the GOPAX emulator: an aggressive strategy (bursts of placements and
cancels every 0.2 s) through the whole live path — strategy, order manager, GOPAX adapter, REST
client and its shared limiters — against the emulator's own moving windows (20 calls per second
per key, 429 code 10105 beyond).

Prints requests, requests/s, the 429s the venue answered, orders rejected and cancels refused,
and each limiter's busiest window against its limit (the headroom); asserts nothing. The target
is 0 x 429.

    python bench/gopax_soak.py [--duration 180] [--burst 4] [--interval 0.2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._common import machine, quiet_logs, run_on_best_loop  # noqa: E402
from engine.app.config import load_config  # noqa: E402
from engine.app.session import run_plan  # noqa: E402

HERE = Path(__file__).resolve().parent


def config(burst: int, interval_s: float) -> dict[str, object]:
    return {
        "name": "gopax_soak",
        "mode": "live",
        "journal": None,
        "progress_s": 0,
        "venues": {"gopax": {"type": "gopax", "emulator": True, "emulator_seed": 7, "pairs": ["BTC-KRW"]}},
        "strategies": [{
            "name": "churn", "plugin": f"{HERE / 'plugins' / 'churn.py'}:Churn", "instruments": ["gopax:BTC-KRW"],
            "params": {"burst": burst, "interval_s": interval_s},
        }],
        "risk": {"max_open_orders": 200, "max_orders_per_second": 1000},
    }


async def soak(duration_s: float, burst: int, interval_s: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "soak.yaml"
        path.write_text(yaml.safe_dump(config(burst, interval_s)), encoding="utf-8")
        plan = load_config(path)
        started = time.perf_counter()
        summary = await run_plan(plan, duration_s=duration_s, handle_signals=False)
        wall = time.perf_counter() - started
    r = summary["requests"]["gopax"]
    statuses = r["statuses"]
    rejected = summary["orders"].get("rejected", 0)
    print(f"machine: {machine()}")
    print(f"{duration_s:g} s of bursts of {burst} placements + cancels every {interval_s:g} s ({wall:.0f} s wall)")
    print(f"requests          : {r['requests']:,} ({r['requests'] / wall:.1f}/s over the wall time, the stop's cancels included), retried {r['retried']}")
    print(f"answers by status : {statuses}")
    print(f"429s              : {statuses.get('429', 0)}")
    refused = summary["orders_engine"]["risk_rejected"]
    print(f"orders            : {summary['orders_total']:,} {summary['orders']}; rejected {rejected} "
          f"({refused} by the engine's own risk limits, {rejected - refused} by the venue or as not received)")
    print(f"left open at stop : {len(summary['left_open'])}")
    for name, lim in sorted(r["limiters"].items()):
        print(f"limiter {name:<11}: {lim['calls']:>6,} calls, busiest window {lim['peak']}/{lim['limit']}, "
              f"headroom {lim['limit'] - lim['peak']}, longest wait {lim['longest_wait_s']:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=180.0)
    parser.add_argument("--burst", type=int, default=4)
    parser.add_argument("--interval", type=float, default=0.2)
    args = parser.parse_args()
    quiet_logs()
    run_on_best_loop(soak(args.duration, args.burst, args.interval))


if __name__ == "__main__":
    main()
