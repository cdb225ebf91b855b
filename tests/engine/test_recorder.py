"""The recorder on a real bus: what it writes (the historical venue's columns and layout), several
flushes into one file, a file per day, rows kept in time order, nothing lost at stop, and a bad
output folder as one line with exit 2. Real files in tmp_path; every wait bounded."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from engine.data.bus import Bus
from engine.errors import ConfigError, UserError
from engine.events import Bar, Quote, Side, Trade
from engine.record.config import RecordConfig, prepare_dir, wanted_instruments
from engine.record.layout import SCHEMAS
from engine.record.recorder import Recorder
from engine.record.sink import PartitionSink
from tests.helpers import REPO, bounded, until

T0 = 1_795_146_300_000_000_000  # 2026-11-20T03:45:00Z (09:15 IST)
S = 1_000_000_000
DAY = 86_400 * S


def quote(inst: str, ts: int, bid: float = 100.0) -> Quote:
    return Quote(inst, bid, bid + 0.5, 10.0, 20.0, ts, ts)


def rows(path: Path) -> list[dict[str, object]]:
    return pq.read_table(path).to_pylist()


async def test_rows_land_in_the_historical_layout_across_flushes_and_days(tmp_path: Path) -> None:
    bus = Bus()
    recorder = Recorder(RecordConfig(dir=str(tmp_path / "rec"), flush_s=0.02), bus, where="record.dir")
    recorder.start(Recorder.bar_keys(["sim:NSE:RELIANCE"], {}))
    for i in range(5):
        bus.publish(quote("sim:NSE:RELIANCE", T0 + i * S, 100 + i), "sim:NSE:RELIANCE")
    await until(lambda: recorder.sink.stats.rows["quotes"] == 5)  # the first flush
    bus.publish(quote("sim:NSE:RELIANCE", T0 + 10 * S, 110), "sim:NSE:RELIANCE")
    bus.publish(quote("sim:NSE:RELIANCE", T0 + 9 * S, 109), "sim:NSE:RELIANCE")  # out of order within a flush
    bus.publish(quote("sim:NSE:RELIANCE", T0 + DAY, 200), "sim:NSE:RELIANCE")  # the next day
    bus.publish(Trade("sim:NSE:RELIANCE", 100.5, 3.0, T0 + S, T0 + S, Side.SELL, "t1"), "sim:NSE:RELIANCE")
    bus.publish(Trade("sim:NSE:RELIANCE", 100.0, 1.0, T0 + 2 * S, T0 + 2 * S), "sim:NSE:RELIANCE")
    bus.publish(Bar("sim:NSE:RELIANCE", 60, 1, 2, 0.5, 1.5, 9, T0, T0 + 60 * S), "sim:NSE:RELIANCE")  # a venue's bar
    bus.publish(Bar("sim:NSE:RELIANCE", 5, 1, 2, 0.5, 1.5, 9, T0, T0 + 5 * S), ("sim:NSE:RELIANCE", 5, "quotes"))
    await bounded(recorder.stop())

    base = tmp_path / "rec" / "sim"
    day1 = base / "quotes" / "2026-11-20" / "NSE%3ARELIANCE.parquet"
    day2 = base / "quotes" / "2026-11-21" / "NSE%3ARELIANCE.parquet"
    assert pq.read_schema(day1) == SCHEMAS["quotes"]
    assert pq.ParquetFile(day1).num_row_groups == 2  # two flushes, one file, both kept
    got = rows(day1)
    assert [(r["bid"], r["instrument"]) for r in got] == [(100.0 + i, "NSE:RELIANCE") for i in (0, 1, 2, 3, 4, 9, 10)]
    assert [int(r["ts"].timestamp()) * S for r in got] == [T0 + i * S for i in (0, 1, 2, 3, 4, 9, 10)]
    assert [r["bid"] for r in rows(day2)] == [200.0]
    trades = rows(base / "trades" / "2026-11-20" / "NSE%3ARELIANCE.parquet")
    assert [(r["price"], r["size"], r["side"]) for r in trades] == [(100.5, 3.0, "sell"), (100.0, 1.0, None)]
    bars = rows(base / "bars_60s" / "2026-11-20" / "NSE%3ARELIANCE.parquet")
    assert [(r["open"], r["high"], r["low"], r["close"], r["volume"]) for r in bars] == [(1, 2, 0.5, 1.5, 9)]
    assert not (base / "bars_5s").exists()  # the engine's own bars are not a venue's market data
    assert recorder.summary()["rows"] == {"quotes": 8, "trades": 2, "bars": 1}


async def test_a_row_earlier_than_one_written_is_written_at_the_later_time(tmp_path: Path) -> None:
    bus = Bus()
    recorder = Recorder(RecordConfig(dir=str(tmp_path), flush_s=0.02), bus, where="record.dir")
    recorder.start([])
    bus.publish(quote("v:X", T0 + 5 * S), "v:X")
    await until(lambda: recorder.sink.stats.rows["quotes"] == 1)
    bus.publish(quote("v:X", T0 + 3 * S), "v:X")
    await bounded(recorder.stop())
    got = rows(tmp_path / "v" / "quotes" / "2026-11-20" / "X.parquet")
    assert [int(r["ts"].timestamp()) * S for r in got] == [T0 + 5 * S, T0 + 5 * S]
    assert recorder.summary()["moved"] == 1


async def test_a_second_recording_into_the_same_folder_keeps_the_first(tmp_path: Path) -> None:
    for bid in (1.0, 2.0):
        bus = Bus()
        recorder = Recorder(RecordConfig(dir=str(tmp_path)), bus, where="record.dir")
        recorder.start([])
        bus.publish(quote("v:X", T0, bid), "v:X")
        await bounded(recorder.stop())
    folder = tmp_path / "v" / "quotes" / "2026-11-20"
    assert [r["bid"] for r in rows(folder / "X.parquet")] == [1.0]
    assert [r["bid"] for r in rows(folder / "X~002.parquet")] == [2.0]


async def test_flush_at_stop_loses_nothing_under_a_stream_of_quotes(tmp_path: Path) -> None:
    bus = Bus()
    recorder = Recorder(RecordConfig(dir=str(tmp_path), flush_s=0.01, max_rows=500), bus, where="record.dir")
    recorder.start([])
    published = 0
    for burst in range(40):
        for i in range(250):
            inst = "v:A" if i % 2 else "v:B"
            bus.publish(quote(inst, T0 + (burst * 250 + i) * 1000), inst)
            published += 1
        await asyncio.sleep(0.001)  # flushes run meanwhile, in their thread
    await bounded(recorder.stop())  # the last rows are still buffered here
    files = sorted((tmp_path / "v" / "quotes").rglob("*.parquet"))
    assert sum(pq.ParquetFile(f).metadata.num_rows for f in files) == published == 10_000
    assert recorder.summary()["lost"] == 0


async def test_a_failed_write_is_counted_and_the_recording_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bus = Bus()
    recorder = Recorder(RecordConfig(dir=str(tmp_path), flush_s=0.01), bus, where="record.dir")
    recorder.start([])
    real = recorder.sink.write

    def full(events: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(recorder.sink, "write", full)
    bus.publish(quote("v:X", T0), "v:X")
    await until(lambda: recorder.lost == 1)
    monkeypatch.setattr(recorder.sink, "write", real)
    bus.publish(quote("v:X", T0 + S), "v:X")
    await bounded(recorder.stop())
    assert recorder.summary()["rows"]["quotes"] == 1 and recorder.summary()["lost"] == 1


def test_record_instruments_resolve_with_a_venue_wildcard_and_refuse_an_unknown_one() -> None:
    known = ["sim:NSE:INFY", "sim:NSE:RELIANCE", "gopax:BTC-KRW"]
    config = RecordConfig(dir="x", instruments=["sim:*", "gopax:BTC-KRW"])
    assert wanted_instruments(config, known, "c.yaml") == ["sim:NSE:INFY", "sim:NSE:RELIANCE", "gopax:BTC-KRW"]
    with pytest.raises(ConfigError) as info:
        wanted_instruments(RecordConfig(dir="x", instruments=["sim:NSE:TCS"]), known, "c.yaml")
    assert str(info.value) == ("c.yaml: record.instruments[0]: no instrument 'sim:NSE:TCS' in this run "
                               "(venue sim has: sim:NSE:INFY, sim:NSE:RELIANCE)")


def test_an_output_folder_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserError, match=r"^--out: cannot write to .*file: it is a file, not a folder$"):
        prepare_dir(blocker, "--out")
    with pytest.raises(UserError, match=r"^--out: cannot write to .*file/sub: Not a directory$"):
        prepare_dir(blocker / "sub", "--out")


def _config(tmp_path: Path, **extra: object) -> Path:
    config = {
        "mode": "paper", "duration_s": 1, "journal": None,
        "venues": {"sim": {"type": "synthetic", "instruments": [{"symbol": "X", "price": 100, "tick": 0.5}]}},
        **extra,
    }
    path = tmp_path / "rec.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_py(*args: str) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "run.py", *args], cwd=REPO, capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stderr


def test_record_with_a_bad_out_dir_or_record_dir_exits_2_with_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    config = _config(tmp_path, record={"instruments": ["sim:*"], "dir": str(blocker)})
    assert run_py("record", str(config), "--out", str(blocker / "sub")) == (
        2, f"--out: cannot write to {blocker / 'sub'}: Not a directory\n")
    assert run_py("run", str(config)) == (2, f"{config}: record.dir: cannot write to {blocker}: it is a file, not a folder\n")
    plain = _config(tmp_path)
    assert run_py("record", str(plain)) == (2, f"record: give --out DIR (or a record: {{dir: ...}} block in {plain})\n")
    code, err = run_py("record", str(plain), "--out", str(tmp_path / "out"))
    assert code == 2 and err.startswith(f"{plain}: record.instruments: nothing to record") and err.count("\n") == 1


def test_an_open_file_is_a_partial_one_until_closed_and_files_roll_after_roll_s(tmp_path: Path) -> None:
    sink = PartitionSink(tmp_path)
    sink.write([quote("v:X", T0)])
    folder = tmp_path / "v" / "quotes" / "2026-11-20"
    assert sorted(p.name for p in folder.iterdir()) == ["X.parquet.partial"]  # a killed run leaves no unreadable .parquet
    sink.close()
    assert sorted(p.name for p in folder.iterdir()) == ["X.parquet"]
    rolling = PartitionSink(tmp_path / "r", roll_s=1e-9)
    for i in range(3):
        rolling.write([quote("v:X", T0 + i * S, 100 + i)])
        time.sleep(0.001)
    rolling.close()
    rolled = tmp_path / "r" / "v" / "quotes" / "2026-11-20"
    assert sorted(p.name for p in rolled.iterdir()) == ["X.parquet", "X~002.parquet", "X~003.parquet"]  # as written
    assert [rows(rolled / n)[0]["bid"] for n in ("X.parquet", "X~002.parquet", "X~003.parquet")] == [100, 101, 102]
