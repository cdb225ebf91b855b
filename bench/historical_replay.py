"""Quote rows per second read from Parquet into the engine by the historical venue.

Writes N quote rows (two instruments, epoch-ns `ts`, dictionary-encoded symbols) to Parquet, one
file and then split across four files by time (the k-way merge), and measures:

1. read: files -> `Quote` events, as the backtest loop receives them (record batches, bulk
   conversion, the merge);
2. engine: the whole backtest (the bus, portfolio marks, the paper broker's matching, a strategy
   that counts quotes).

Prints figures; asserts nothing.

    python bench/historical_replay.py [--rows N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import yaml  # noqa: E402

from bench._common import machine, quiet_logs, run_on_best_loop  # noqa: E402
from engine.app.config import load_config  # noqa: E402
from engine.app.runner import Engine  # noqa: E402
from engine.clock import SimulatedClock  # noqa: E402
from engine.data.bus import Bus  # noqa: E402
from engine.venue.contract import VenueContext  # noqa: E402

T0 = 1_796_615_100_000_000_000  # 2026-12-07T09:15:00+05:30
INSTRUMENTS = [{"symbol": "RELIANCE", "tick": 0.05, "exchange": "NSE"}, {"symbol": "INFY", "tick": 0.05, "exchange": "NSE"}]


def write(folder: Path, rows: int, files: int) -> Path:
    rng = np.random.default_rng(15)
    ts = T0 + np.arange(rows, dtype=np.int64) * 1_000_000  # a quote every ms: 2M rows in 33 minutes
    symbols = pa.DictionaryArray.from_arrays(pa.array(np.arange(rows) % 2, pa.int32()), pa.array(["RELIANCE", "INFY"]))
    mid = 1290.0 + np.cumsum(rng.choice([-0.05, 0.0, 0.05], rows))
    table = pa.table({
        "ts": ts, "instrument": symbols, "bid": np.round(mid - 0.05, 2), "ask": np.round(mid + 0.05, 2),
        "bid_size": rng.integers(1, 500, rows).astype(np.float64), "ask_size": rng.integers(1, 500, rows).astype(np.float64),
    })
    folder.mkdir(parents=True, exist_ok=True)
    step = -(-rows // files)
    for i in range(files):
        pq.write_table(table.slice(i * step, step), folder / f"part-{i}.parquet", compression="zstd")
    return folder


def venue_block(path: Path) -> dict[str, object]:
    return {"type": "historical", "path": str(path), "kind": "quotes", "ts_unit": "ns", "instruments": INSTRUMENTS}


def read_rate(path: Path) -> tuple[int, float]:
    import msgspec

    from adapters.historical.adapter import HistoricalVenue
    from adapters.historical.config import HistoricalConfig

    config = msgspec.convert(venue_block(path), HistoricalConfig, strict=False)
    venue = HistoricalVenue(VenueContext(name="h", bus=Bus(), clock=SimulatedClock(), sink=None, mode="backtest"), config)  # type: ignore[arg-type]
    asyncio.run(venue.connect())
    began = time.perf_counter()
    count = 0
    for _ in venue.replay(0, 2**62):
        count += 1
    return count, time.perf_counter() - began


STRATEGY = '''
from strategies import Quote, Strategy


class Count(Strategy):
    def on_start(self) -> None:
        self.seen = 0

    def on_quote(self, quote: Quote) -> None:
        self.seen += 1
'''


async def engine_rate(path: Path, workdir: Path) -> tuple[int, float]:
    (workdir / "count.py").write_text(STRATEGY)
    config = {"mode": "backtest", "journal": None, "venues": {"h": venue_block(path)},
              "paper": {"balances": {"INR": 1_000_000}},
              "strategies": [{"name": "count", "plugin": f"{workdir / 'count.py'}:Count", "instruments": ["h:RELIANCE", "h:INFY"]}]}
    file = workdir / "bench.yaml"
    file.write_text(yaml.safe_dump(config))
    engine = Engine(load_config(file))
    await engine.start()
    began = time.perf_counter()
    await engine.run()
    elapsed = time.perf_counter() - began
    seen = engine.hosts[0].strategy.seen  # type: ignore[attr-defined]
    await engine.stop()
    return seen, elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    args = parser.parse_args()
    quiet_logs()
    print(f"machine: {machine()}, {os.uname().machine}, nproc {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        for files in (1, 4):
            folder = write(Path(tmp) / f"f{files}", args.rows, files)
            size = sum(p.stat().st_size for p in folder.iterdir())
            count, elapsed = read_rate(folder if files > 1 else folder / "part-0.parquet")
            print(f"read   {files} file(s), {size / 1e6:.1f} MB: {count:,} quotes in {elapsed:.2f} s = {count / elapsed:,.0f} rows/s")
        count, elapsed = run_on_best_loop(engine_rate(Path(tmp) / "f1" / "part-0.parquet", Path(tmp)))
        print(f"engine 1 file: {count:,} quotes to the strategy in {elapsed:.2f} s = {count / elapsed:,.0f} rows/s")


if __name__ == "__main__":
    main()
