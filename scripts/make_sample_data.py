#!/usr/bin/env python3
"""Writes data/sample/nse_quotes_2026-12-07.csv.gz: one NSE trading day (09:15 to 15:30 IST) of
quotes for RELIANCE and INFY, a seeded random walk quoted every 2 s, the same bytes every time.

  python scripts/make_sample_data.py [--out FILE] [--seed N] [--every-s S]

The shipped `configs/backtest_historical.yaml` replays it; re-run this to make it again.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

from engine.data.synthetic import RandomWalk, WalkSpec

IST = timezone(timedelta(hours=5, minutes=30))
OPEN = datetime(2026, 12, 7, 9, 15, tzinfo=IST)
CLOSE = datetime(2026, 12, 7, 15, 30, tzinfo=IST)
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "data" / "sample" / "nse_quotes_2026-12-07.csv.gz"
STOCKS = (
    WalkSpec(instrument="RELIANCE", price=1290.50, tick=0.05, size=400, move_prob=0.5, spread_ticks=1),
    WalkSpec(instrument="INFY", price=1512.40, tick=0.05, size=300, move_prob=0.5, spread_ticks=1),
)


def rows(seed: int, every_s: float) -> list[tuple[str, str, float, float, int, int]]:
    walk = RandomWalk(list(STOCKS), seed=seed)
    out = []
    step = timedelta(seconds=every_s)
    at = OPEN
    while at < CLOSE:
        ts = at.isoformat(timespec="milliseconds")
        for i, spec in enumerate(STOCKS):
            quote, _ = walk.step(i, 0)
            out.append((ts, spec.instrument, quote.bid, quote.ask, round(quote.bid_size), round(quote.ask_size)))
        at += step
    return out


def write(path: Path, seed: int, every_s: float) -> int:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(("ts", "instrument", "bid", "ask", "bid_size", "ask_size"))
    data = rows(seed, every_s)
    writer.writerows(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(text.getvalue().encode("utf-8"))
    return len(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--every-s", type=float, default=2.0)
    args = parser.parse_args()
    count = write(args.out, args.seed, args.every_s)
    print(f"{args.out}: {count} quotes, {args.out.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
