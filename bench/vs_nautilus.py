"""tickbus and NautilusTrader side by side, in one run on one machine: the same number of quotes of
one instrument into a Python strategy doing the same trivial work (count them; with orders, a market
order every 1,000 quotes, alternately buy and sell), interleaved A B A B over the repeats. Prints
each side's quotes/s, the engine cost per order ((with orders - without) / orders) and the ratios of
the same repeat; fills are checked on both sides. Asserts nothing.

NautilusTrader lives in a virtual environment of its own (`python3 -m venv /opt/nt && /opt/nt/bin/pip
install nautilus_trader==1.221.0`); give its interpreter:

    python bench/vs_nautilus.py --nautilus-python /opt/nt/bin/python [--quotes 1000000] [--repeats 3]

Without one (or `NAUTILUS_PYTHON`) it says so in one line and measures tickbus alone.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import machine, quiet_logs, run_on_best_loop  # noqa: E402
from bench.replay import run_once  # noqa: E402

EVERY = 1000
NAUTILUS_SIDE = str(ROOT / "bench" / "nautilus_side.py")


def tickbus(quotes: int, every: int, workdir: Path, journal: str = "null") -> dict[str, float]:
    seconds, seen, fills = run_on_best_loop(run_once(quotes, every, workdir, journal))
    return {"seconds": seconds, "seen": seen, "fills": fills}


def nautilus(python: str, quotes: int, every: int) -> dict[str, float]:
    proc = subprocess.run([python, NAUTILUS_SIDE, "--quotes", str(quotes), "--order-every", str(every)],
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"NautilusTrader's side failed: {proc.stderr[-1500:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def cost_us(plain: dict[str, float], orders: dict[str, float], every: int) -> float:
    """The engine's time per order: the run with orders minus the quotes' own time, per order."""
    per_quote = plain["seconds"] / plain["seen"]
    n = orders["seen"] // every
    return (orders["seconds"] - orders["seen"] * per_quote) / n * 1e6


def check_fills(side: str, run: dict[str, float], every: int) -> None:
    want = run["seen"] // every
    if run["fills"] != want:
        raise SystemExit(f"{side}: {run['fills']} fills for {want} orders: the two sides did not do the same work")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nautilus-python", default=os.environ.get("NAUTILUS_PYTHON"))
    parser.add_argument("--quotes", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    quiet_logs()
    nt = args.nautilus_python
    if nt and not Path(nt).exists():
        raise SystemExit(f"--nautilus-python: no interpreter at {nt}")
    if not nt:
        print("NautilusTrader: no interpreter given (--nautilus-python or NAUTILUS_PYTHON): tickbus alone")
    version = subprocess.run([nt, "-c", "import nautilus_trader as n; print(n.__version__)"], capture_output=True,
                             text=True, timeout=120).stdout.strip() if nt else "-"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    print(f"machine: {machine()}  tickbus loop: {loop}")
    print(f"{args.quotes:,} quotes, one instrument; orders: a market order every {EVERY:,} quotes; "
          f"NautilusTrader {version}; {args.repeats} repeats, interleaved")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        tickbus(20_000, 0, workdir)  # warm-up
        for r in range(1, args.repeats + 1):
            row: dict[str, dict[str, float]] = {}
            row["tb_plain"] = tickbus(args.quotes, 0, workdir)
            if nt:
                row["nt_plain"] = nautilus(nt, args.quotes, 0)
            row["tb_orders"] = tickbus(args.quotes, EVERY, workdir)
            if nt:
                row["nt_orders"] = nautilus(nt, args.quotes, EVERY)
            row["tb_orders_file"] = tickbus(args.quotes, EVERY, workdir, journal="file")
            for key in ("tb_orders", "nt_orders", "tb_orders_file"):
                if key in row:
                    check_fills(key, row[key], EVERY)
            rows.append(row)
            _print_repeat(r, row)
    _print_medians(rows)


def _qps(run: dict[str, float]) -> float:
    return run["seen"] / run["seconds"]


def _print_repeat(r: int, row: dict[str, dict[str, float]]) -> None:
    tb_cost = cost_us(row["tb_plain"], row["tb_orders"], EVERY)
    tb_file = cost_us(row["tb_plain"], row["tb_orders_file"], EVERY)
    line = (f"repeat {r}: tickbus {_qps(row['tb_plain']):,.0f} q/s, with orders {_qps(row['tb_orders']):,.0f} q/s, "
            f"{tb_cost:,.1f} us/order (file journal {tb_file:,.1f})")
    if "nt_plain" in row:
        nt_cost = cost_us(row["nt_plain"], row["nt_orders"], EVERY)
        line += (f" | NautilusTrader {_qps(row['nt_plain']):,.0f} q/s, with orders {_qps(row['nt_orders']):,.0f} q/s, "
                 f"{nt_cost:,.1f} us/order | ratios: {_qps(row['tb_plain']) / _qps(row['nt_plain']):.2f}x, "
                 f"{_qps(row['tb_orders']) / _qps(row['nt_orders']):.2f}x, cost {tb_cost / nt_cost:.3f}")
    print(line, flush=True)


def _print_medians(rows: list[dict[str, dict[str, float]]]) -> None:
    med = statistics.median
    tb = med(_qps(r["tb_plain"]) for r in rows)
    tbo = med(_qps(r["tb_orders"]) for r in rows)
    cost = med(cost_us(r["tb_plain"], r["tb_orders"], EVERY) for r in rows)
    cost_file = med(cost_us(r["tb_plain"], r["tb_orders_file"], EVERY) for r in rows)
    print(f"median: tickbus {tb:,.0f} q/s, with orders {tbo:,.0f} q/s, {cost:,.1f} us/order, file journal {cost_file:,.1f} us/order")
    if "nt_plain" in rows[0]:
        nt = med(_qps(r["nt_plain"]) for r in rows)
        nto = med(_qps(r["nt_orders"]) for r in rows)
        ncost = med(cost_us(r["nt_plain"], r["nt_orders"], EVERY) for r in rows)
        ratios = [_qps(r["tb_plain"]) / _qps(r["nt_plain"]) for r in rows]
        ratios_o = [_qps(r["tb_orders"]) / _qps(r["nt_orders"]) for r in rows]
        costs = [cost_us(r["tb_plain"], r["tb_orders"], EVERY) / cost_us(r["nt_plain"], r["nt_orders"], EVERY) for r in rows]
        print(f"median: NautilusTrader {nt:,.0f} q/s, with orders {nto:,.0f} q/s, {ncost:,.1f} us/order")
        print(f"same-repeat ratios (tickbus / NautilusTrader): no orders {min(ratios):.2f}-{max(ratios):.2f}x "
              f"(target >= 5), with orders {min(ratios_o):.2f}-{max(ratios_o):.2f}x (target >= 5), "
              f"cost per order {min(costs):.3f}-{max(costs):.3f} (target <= 0.1; file journal within 1.5x of memory: "
              f"{cost_file / cost:.2f}x)")


if __name__ == "__main__":
    main()
