"""tickbus and NautilusTrader side by side, in one run on one machine: the same number of quotes of
one instrument into a Python strategy doing the same trivial work (count them; with orders, a market
order every 1,000 quotes, alternately buy and sell; for the cost per order, one every 10 quotes),
interleaved A B A B over the repeats. The quotes are made before the clock starts on both sides
(NautilusTrader's `add_data`; tickbus's synthetic walk run ahead), and tickbus is also timed with
its walk making them while it replays. Prints each side's quotes/s, the engine cost per order
((dense-order run - its quotes' own time) / orders) and the ratios of the same repeat; fills are
checked on both sides. Asserts nothing.

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

SPARSE, DENSE = 1000, 10  # a market order every SPARSE quotes; every DENSE for the cost per order
NAUTILUS_SIDE = str(ROOT / "bench" / "nautilus_side.py")
Run = dict[str, float]


def tickbus(quotes: int, every: int, workdir: Path, journal: str = "null", preload: bool = True) -> Run:
    seconds, seen, fills = run_on_best_loop(run_once(quotes, every, workdir, journal, preload=preload))
    return {"seconds": seconds, "seen": seen, "fills": fills, "every": every}


def nautilus(python: str, quotes: int, every: int) -> Run:
    proc = subprocess.run([python, NAUTILUS_SIDE, "--quotes", str(quotes), "--order-every", str(every)],
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"NautilusTrader's side failed: {proc.stderr[-1500:]}")
    result: Run = json.loads(proc.stdout.strip().splitlines()[-1])
    result["every"] = every
    return result


def qps(run: Run) -> float:
    return run["seen"] / run["seconds"]


def cost_us(plain: Run, orders: Run) -> float:
    """The engine's time per order: the run with orders minus its quotes' own time, per order."""
    per_quote = plain["seconds"] / plain["seen"]
    n = orders["seen"] // orders["every"]
    return (orders["seconds"] - orders["seen"] * per_quote) / n * 1e6


def check_fills(side: str, run: Run) -> None:
    want = run["seen"] // run["every"]
    if run["fills"] != want:
        raise SystemExit(f"{side}: {run['fills']} fills for {want} orders: the two sides did not do the same work")


def one_repeat(nt: str | None, quotes: int, workdir: Path) -> dict[str, Run]:
    """Every run of one repeat, tickbus and NautilusTrader alternating."""
    dense = max(quotes // 5, 10_000)
    row = {"tb_walk": tickbus(quotes, 0, workdir, preload=False), "tb_plain": tickbus(quotes, 0, workdir)}
    if nt:
        row["nt_plain"] = nautilus(nt, quotes, 0)
    row["tb_sparse"] = tickbus(quotes, SPARSE, workdir)
    if nt:
        row["nt_sparse"] = nautilus(nt, quotes, SPARSE)
    row["tb_dense"] = tickbus(dense, DENSE, workdir)
    if nt:
        row["nt_dense"] = nautilus(nt, dense, DENSE)
    row["tb_dense_file"] = tickbus(dense, DENSE, workdir, journal="file")
    for key, run in row.items():
        if run["every"]:
            check_fills(key, run)
    return row


def figures(row: dict[str, Run]) -> dict[str, float]:
    """The figures of one repeat, and its same-repeat ratios."""
    f = {"tb_walk": qps(row["tb_walk"]), "tb_plain": qps(row["tb_plain"]), "tb_sparse": qps(row["tb_sparse"]),
         "tb_cost": cost_us(row["tb_plain"], row["tb_dense"]), "tb_cost_file": cost_us(row["tb_plain"], row["tb_dense_file"])}
    f["file_over_memory"] = f["tb_cost_file"] / f["tb_cost"]
    if "nt_plain" in row:
        f |= {"nt_plain": qps(row["nt_plain"]), "nt_sparse": qps(row["nt_sparse"]),
              "nt_cost": cost_us(row["nt_plain"], row["nt_dense"])}
        f |= {"ratio_plain": f["tb_plain"] / f["nt_plain"], "ratio_walk": f["tb_walk"] / f["nt_plain"],
              "ratio_sparse": f["tb_sparse"] / f["nt_sparse"], "cost_ratio": f["tb_cost"] / f["nt_cost"],
              "cost_ratio_file": f["tb_cost_file"] / f["nt_cost"]}
    return f


def show(label: str, f: dict[str, float]) -> None:
    print(f"{label}: tickbus {f['tb_plain']:,.0f} q/s (walk made while replaying {f['tb_walk']:,.0f}), "
          f"order every {SPARSE:,} {f['tb_sparse']:,.0f} q/s, {f['tb_cost']:,.1f} us/order "
          f"(file journal {f['tb_cost_file']:,.1f}, x{f['file_over_memory']:.2f})", flush=True)
    if "nt_plain" in f:
        print(f"{' ' * len(label)}  NautilusTrader {f['nt_plain']:,.0f} q/s, order every {SPARSE:,} {f['nt_sparse']:,.0f} q/s, "
              f"{f['nt_cost']:,.1f} us/order", flush=True)
        print(f"{' ' * len(label)}  ratios: quotes/s x{f['ratio_plain']:.2f} (walk x{f['ratio_walk']:.2f}), "
              f"with orders x{f['ratio_sparse']:.2f}, cost per order {f['cost_ratio']:.3f} "
              f"(file journal {f['cost_ratio_file']:.3f})", flush=True)


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
    print(f"machine: {machine()}  tickbus loop: {loop}  NautilusTrader {version}")
    print(f"{args.quotes:,} quotes of one instrument, made before the clock starts on both sides (tickbus also with "
          f"the walk making them as they replay); a market order every {SPARSE:,} quotes, and every {DENSE} "
          f"({max(args.quotes // 5, 10_000):,} quotes) for the cost per order; {args.repeats} repeats, interleaved")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        tickbus(20_000, DENSE, workdir)  # warm-up
        for r in range(1, args.repeats + 1):
            rows.append(figures(one_repeat(nt, args.quotes, workdir)))
            show(f"repeat {r}", rows[-1])
    median = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
    show("median", median)
    if nt:
        spans = {key: (min(row[key] for row in rows), max(row[key] for row in rows))
                 for key in ("ratio_plain", "ratio_sparse", "cost_ratio", "file_over_memory")}
        print("same-repeat ratios, lowest-highest: quotes/s x{0[0]:.2f}-{0[1]:.2f} (target >= 5), with orders "
              "x{1[0]:.2f}-{1[1]:.2f} (target >= 5), cost per order {2[0]:.3f}-{2[1]:.3f} (target <= 0.1), file "
              "journal over memory x{3[0]:.2f}-{3[1]:.2f} (target <= 1.5)".format(*spans.values()))


if __name__ == "__main__":
    main()
