"""The historical venue's files -> events: CSV, gzip CSV and Parquet; time formats; merge; bad rows."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adapters.historical.config import HistoricalConfig
from adapters.historical.parsing import epoch_unit
from adapters.historical.reader import FileReader, FileReplay, find_files, merge
from engine.errors import UserError
from engine.events import Quote, Side, Trade

T0 = 1_796_615_100_000_000_000  # 2026-12-07T09:15:00+05:30
FAR = 2**62
QUOTES = "ts,instrument,bid,ask,bid_size,ask_size\n"


def config(path: Path | str, **extra: Any) -> HistoricalConfig:
    block = {"path": str(path), "instruments": [{"symbol": "RELIANCE", "tick": "0.05", "exchange": "NSE"},
                                                 {"symbol": "INFY", "tick": "0.05", "exchange": "NSE"}], **extra}
    return msgspec.convert(block, HistoricalConfig, strict=False)


def replay(path: Path, **extra: Any) -> tuple[list[Any], list[tuple[int, str]], FileReplay]:
    cfg = config(path, **extra)
    reported: list[tuple[int, str]] = []
    streams = [FileReplay(FileReader(p, cfg, "venues.h"), cfg, ["h:RELIANCE", "h:INFY"], {"RELIANCE": 0, "INFY": 1},
                          lambda file, line, why: reported.append((line, why))) for p in find_files(str(path), "venues.h")]
    events = list(merge([s.events(-FAR, FAR) for s in streams]))
    return events, reported, streams[0]


def test_iso_times_with_offsets_become_utc_nanoseconds(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text(QUOTES + "2026-12-07T09:15:00+05:30,RELIANCE,1290.5,1290.55,100,200\n"
                    "2026-12-07T03:45:00.25Z,INFY,1500,1500.05,10,20\n")
    events, reported, _ = replay(path)
    assert events == [
        Quote("h:RELIANCE", 1290.5, 1290.55, 100.0, 200.0, T0, T0),
        Quote("h:INFY", 1500.0, 1500.05, 10.0, 20.0, T0 + 250_000_000, T0 + 250_000_000),
    ]
    assert reported == []


@pytest.mark.parametrize(("unit", "scale"), [("s", 1), ("ms", 1_000), ("us", 1_000_000), ("ns", 1_000_000_000)])
def test_epoch_integers_in_each_unit_are_told_apart_by_size(tmp_path: Path, unit: str, scale: int) -> None:
    seconds = T0 // 1_000_000_000
    path = tmp_path / "q.csv"
    path.write_text(QUOTES + f"{seconds * scale},RELIANCE,1,2,3,4\n{(seconds + 1) * scale},RELIANCE,1,2,3,4\n")
    assert epoch_unit(seconds * scale) == unit
    events, _, _ = replay(path)
    assert [e.ts_event for e in events] == [T0, T0 + 1_000_000_000]
    events, _, _ = replay(path, ts_unit=unit)  # or given
    assert [e.ts_event for e in events] == [T0, T0 + 1_000_000_000]


def test_gzip_csv_reads_like_plain_csv(tmp_path: Path) -> None:
    text = QUOTES + "2026-12-07T09:15:00+05:30,RELIANCE,1290.5,1290.55,100,200\n"
    (tmp_path / "a.csv").write_text(text)
    with gzip.open(tmp_path / "b.csv.gz", "wt") as out:
        out.write(text)
    assert replay(tmp_path / "a.csv")[0] == replay(tmp_path / "b.csv.gz")[0]


def test_parquet_with_a_timestamp_column_and_dictionary_symbols(tmp_path: Path) -> None:
    when = [datetime.fromtimestamp(T0 / 1e9, UTC), datetime.fromtimestamp(T0 / 1e9 + 1, UTC)]
    table = pa.table({
        "ts": pa.array(when, pa.timestamp("ms", tz="UTC")),
        "instrument": pa.array(["INFY", "RELIANCE"]).dictionary_encode(),
        "bid": [1500.0, 1290.5], "ask": [1500.05, 1290.55], "bid_size": [10, 100], "ask_size": [20.0, 200.0],
    })
    pq.write_table(table, tmp_path / "q.parquet")
    events, _, _ = replay(tmp_path / "q.parquet")
    assert events == [Quote("h:INFY", 1500.0, 1500.05, 10.0, 20.0, T0, T0),
                      Quote("h:RELIANCE", 1290.5, 1290.55, 100.0, 200.0, T0 + 10**9, T0 + 10**9)]


def test_a_folder_of_files_is_merged_in_time_order(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(QUOTES + f"{T0},RELIANCE,1,2,3,4\n{T0 + 2},RELIANCE,1,2,3,4\n")
    (tmp_path / "b.csv").write_text(QUOTES + f"{T0 + 1},INFY,5,6,7,8\n{T0 + 2},INFY,5,6,7,8\n")
    events, _, _ = replay(tmp_path, ts_unit="ns")
    assert [(e.instrument, e.ts_event - T0) for e in events] == [
        ("h:RELIANCE", 0), ("h:INFY", 1), ("h:RELIANCE", 2), ("h:INFY", 2),  # equal times: files by name
    ]


def test_trades_with_and_without_a_side(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(f"ts,instrument,price,size,side\n{T0},RELIANCE,1290.5,7,BUY\n{T0 + 1},RELIANCE,1290.45,3,\n"
                    f"{T0 + 2},RELIANCE,1290.4,1,sideways\n")
    events, reported, _ = replay(path, kind="trades", ts_unit="ns")
    assert events == [Trade("h:RELIANCE", 1290.5, 7.0, T0, T0, Side.BUY),
                      Trade("h:RELIANCE", 1290.45, 3.0, T0 + 1, T0 + 1, None)]
    assert reported == [(4, "side is not buy or sell")]


def test_malformed_rows_are_counted_and_reported_by_line_and_the_rest_replayed(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text(QUOTES + "\n".join([
        f"{T0},RELIANCE,1,2,3,4",          # line 2: fine
        f"{T0 + 1},RELIANCE,abc,2,3,4",    # line 3: not a number
        f"{T0 + 2},RELIANCE,1,2",          # line 4: too few fields
        "yesterday,RELIANCE,1,2,3,4",     # line 5: not a time
        f"{T0 + 3},RELIANCE,-1,2,3,4",     # line 6: negative
        f"{T0 + 1},RELIANCE,1,2,3,4",      # line 7: fine (bad rows before it do not set the time)
        f"{T0 + 4},NOPE,1,2,3,4",          # line 8: undeclared instrument (counted apart)
        f"{T0 + 5},INFY,1,2,3,4",          # line 9: fine
    ]) + "\n")
    events, reported, stream = replay(path, ts_unit="ns")
    assert [e.ts_event - T0 for e in events] == [0, 1, 5]
    assert [line for line, _ in reported] == [3, 4, 5, 6]
    assert reported[0][1] == "bid is not a number >= 0" and reported[1][1] == "expected 6 fields"
    assert stream.stats.malformed == 4 and stream.stats.unknown == {"NOPE": 1}
    assert stream.stats.replayed == 3


def test_out_of_order_rows_are_refused_not_reordered(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text(QUOTES + f"{T0 + 5},RELIANCE,1,2,3,4\n{T0 + 1},RELIANCE,1,2,3,4\n{T0 + 6},RELIANCE,1,2,3,4\n")
    events, reported, _ = replay(path, ts_unit="ns")
    assert [e.ts_event - T0 for e in events] == [5, 6]
    assert reported == [(3, "ts earlier than a row before it (the file must be in time order)")]


def test_a_missing_column_names_the_file_and_the_column(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text("ts,instrument,bid,ask,bid_size\n")
    with pytest.raises(UserError, match=r"q\.csv: missing column 'ask_size'"):
        FileReader(path, config(path), "venues.h")


def test_a_renamed_column_is_found_through_columns(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text(f"time,instrument,bid,ask,bid_size,size_ask\n{T0},RELIANCE,1,2,3,4\n")
    events, _, _ = replay(path, ts_unit="ns", columns={"ts": "time", "ask_size": "size_ask"})
    assert events == [Quote("h:RELIANCE", 1.0, 2.0, 3.0, 4.0, T0, T0)]


def test_a_missing_path_is_a_user_error_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"venues\.h\.path: no such file or folder"):
        find_files(str(tmp_path / "nothing.csv"), "venues.h")
    with pytest.raises(UserError, match="no data files"):
        find_files(str(tmp_path / "*.parquet"), "venues.h")


def test_rows_outside_the_window_are_left_out(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text(QUOTES + "".join(f"{T0 + i},RELIANCE,1,2,3,4\n" for i in range(10)))
    cfg = config(path, ts_unit="ns", batch_rows=3)
    stream = FileReplay(FileReader(path, cfg, "venues.h"), cfg, ["h:RELIANCE", "h:INFY"], {"RELIANCE": 0, "INFY": 1},
                        lambda *_: None)
    assert [e.ts_event - T0 for e in stream.events(T0 + 2, T0 + 5)] == [2, 3, 4, 5]


def test_tick_and_lot_must_be_positive() -> None:
    with pytest.raises(msgspec.ValidationError, match="tick and lot must be positive"):
        msgspec.convert({"path": "x", "instruments": [{"symbol": "A", "tick": Decimal(0)}]}, HistoricalConfig)
