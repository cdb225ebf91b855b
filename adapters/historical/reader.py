"""Files of quotes, trades or bars -> engine events, one file at a time in record batches, then
merged across files in timestamp order (a k-way merge; equal times keep the files' name order).

A file's columns are found once and converted in bulk per batch (`parsing.py`); a row that does
not convert, names an undeclared instrument, or comes earlier than a row before it is counted and
reported with its file and line, and the replay goes on. A missing file or column is a `UserError`.
"""

from __future__ import annotations

import glob
import gzip
import heapq
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from adapters.historical.config import FileFormat, HistoricalConfig, Kind
from adapters.historical.parsing import REQUIRED, Parsed, TsDecoder, parse, resolve_columns
from engine.errors import UserError
from engine.events import Quote, Trade

SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")


@dataclass(frozen=True)
class Row:
    """A bar row before the fill model expands it (see `bars.py`)."""

    instrument: str
    open: float
    high: float
    low: float
    close: float
    volume: float
    ts_event: int  # the bar's start


@dataclass
class FileStats:
    rows: int = 0
    replayed: int = 0
    malformed: int = 0
    unknown: dict[str, int] = field(default_factory=dict)


Report = Callable[[str, int, str], None]  # (file, line, reason)


def find_files(spec: str, where: str) -> list[Path]:
    """A file, a folder's data files, or a glob's matches, sorted by name; none found is the user's to fix."""
    path = Path(spec)
    if any(ch in spec for ch in "*?["):
        found = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
    elif path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES))
    elif path.is_file():
        found = [path]
    else:
        raise UserError(f"{where}.path: no such file or folder: {spec}")
    if not found:
        raise UserError(f"{where}.path: no data files (.csv, .csv.gz, .parquet) match {spec}")
    return found


def file_format(path: Path, fmt: FileFormat) -> str:
    if fmt != "auto":
        return fmt
    return "parquet" if path.name.endswith((".parquet", ".pq")) else "csv"


class FileReader:
    """One file's batches; `line(i)` is the file line of the batch row `i` (Parquet: row number)."""

    def __init__(self, path: Path, config: HistoricalConfig, where: str) -> None:
        self.path = path
        self.where = where
        self.format = file_format(path, config.format)
        self.batch_rows = config.batch_rows
        self.skipped_lines: list[int] = []  # CSV lines the parser refused (wrong number of fields)
        self.skipped_reported = 0
        self._offset = 0  # rows before the current batch
        self.columns = self._columns()
        self.names, missing = resolve_columns(self.columns, config.kind, config.columns)
        if missing:
            raise UserError(f"{path}: missing column {missing[0]!r} (a {config.kind} file needs "
                            f"{', '.join(config.columns.get(c, c) for c in REQUIRED[config.kind])}); "
                            f"set {where}.columns to map another name")

    def _columns(self) -> list[str]:
        try:
            if self.format == "parquet":
                return list(pq.ParquetFile(self.path).schema_arrow.names)
            opener: Any = gzip.open if self.path.name.endswith(".gz") else open
            with opener(self.path, "rt", encoding="utf-8-sig") as text:
                header = text.readline().strip()
        except FileNotFoundError:
            raise UserError(f"{self.path}: no such file") from None
        except (OSError, EOFError, pa.ArrowException, UnicodeDecodeError) as exc:
            raise UserError(f"{self.path}: cannot read as {self.format}: {exc}") from None
        return [c.strip().strip('"') for c in header.split(",")] if header else []

    def batches(self) -> Iterator[tuple[int, pa.RecordBatch]]:
        """(rows before this batch, the batch) with only the layout's columns."""
        wanted = list(self.names.values())
        try:
            if self.format == "parquet":
                source: Any = pq.ParquetFile(self.path).iter_batches(batch_size=self.batch_rows, columns=wanted)
            else:
                source = self._csv(wanted)
            for batch in source:
                yield self._offset, batch
                self._offset += batch.num_rows
        except pa.ArrowException as exc:
            raise UserError(f"{self.path}: cannot read as {self.format}: {exc}") from None

    def _csv(self, wanted: list[str]) -> Any:
        def refuse(row: Any) -> str:
            if row.number is not None:
                self.skipped_lines.append(row.number)
            return "skip"

        return pacsv.open_csv(
            str(self.path),
            read_options=pacsv.ReadOptions(use_threads=False, block_size=max(self.batch_rows * 64, 1 << 20)),
            parse_options=pacsv.ParseOptions(invalid_row_handler=refuse, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                include_columns=wanted,
                column_types={c: pa.string() for c in wanted},  # converted in bulk after, bad values marked
                strings_can_be_null=True,
            ),
        )

    def line(self, row: int) -> int:
        """The 1-based line of data row `row` (0-based in the file): the header is line 1."""
        if self.format == "parquet":
            return row + 1
        line = row + 2
        for skipped in sorted(self.skipped_lines):
            if skipped <= line:
                line += 1
        return line


class FileReplay:
    """One file as events in its own time order, within [start_ns, end_ns]."""

    def __init__(self, reader: FileReader, config: HistoricalConfig, ids: Sequence[str], index: dict[str, int],
                 report: Report) -> None:
        self.reader = reader
        self.kind: Kind = config.kind
        self.ids = np.array(list(ids) + [""], dtype=object)
        self.index = index
        self.decoder = TsDecoder(config.ts_unit)
        self.report = report
        self.stats = FileStats()
        self.limit = config.report_malformed
        self._last_ts = np.iinfo(np.int64).min

    def events(self, start_ns: int, end_ns: int) -> Iterator[Any]:
        for offset, batch in self.reader.batches():
            parsed = parse(batch, self.kind, self.reader.names, self.index, self.decoder)
            self._order(parsed)
            self._account(offset, batch.num_rows, parsed)
            keep = parsed.ok & (parsed.ts >= start_ns) & (parsed.ts <= end_ns)
            yield from self._build(parsed, keep)
            if len(parsed.ts) and parsed.ok.any() and parsed.ts[parsed.ok].min() > end_ns:
                return

    def _order(self, parsed: Parsed) -> None:
        """Rows earlier than a row before them (in this file) are refused: files must be in time order."""
        ts = np.where(parsed.ok, parsed.ts, np.iinfo(np.int64).min)
        running = np.maximum.accumulate(np.concatenate(([self._last_ts], ts)))[:-1]
        late = parsed.ok & (ts < running)
        if late.any():
            for i in np.flatnonzero(late).tolist():
                parsed.bad.setdefault(i, "ts earlier than a row before it (the file must be in time order)")
            parsed.ok &= ~late
        if len(ts):
            self._last_ts = max(self._last_ts, int(ts.max()))

    def _account(self, offset: int, rows: int, parsed: Parsed) -> None:
        stats = self.stats
        stats.rows += rows
        for symbol, count in parsed.unknown.items():
            stats.unknown[symbol] = stats.unknown.get(symbol, 0) + count
        reader = self.reader
        found = [(reader.line(offset + i), parsed.bad[i]) for i in sorted(parsed.bad)]
        for line in reader.skipped_lines[reader.skipped_reported:]:
            found.append((line, f"expected {len(reader.columns)} fields"))
        reader.skipped_reported = len(reader.skipped_lines)
        for line, reason in sorted(found):
            stats.malformed += 1
            if stats.malformed <= self.limit:
                self.report(str(reader.path), line, reason)
            elif stats.malformed == self.limit + 1:
                self.report(str(reader.path), line, f"{reason} (further malformed rows counted, not logged)")

    def _build(self, parsed: Parsed, keep: np.ndarray) -> list[Any]:
        every = bool(keep.all())
        ts = (parsed.ts if every else parsed.ts[keep]).tolist()
        if not ts:
            return []
        self.stats.replayed += len(ts)
        inst = (self.ids[parsed.codes] if every else self.ids[parsed.codes[keep]]).tolist()
        cols = [(v if every else v[keep]).tolist() for v in parsed.numbers.values()]
        if self.kind == "quotes":
            return list(map(Quote, inst, *cols, ts, ts))
        if self.kind == "trades":
            sides = parsed.sides
            if sides is None:
                return list(map(Trade, inst, *cols, ts, ts))
            kept = sides if every else [s for s, k in zip(sides, keep.tolist(), strict=True) if k]
            return list(map(Trade, inst, *cols, ts, ts, kept))
        return list(map(Row, inst, *cols, ts))


def merge(streams: Sequence[Iterator[Any]]) -> Iterator[Any]:
    """Streams each in time order -> one in time order; on equal times the earlier stream first."""
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=attrgetter("ts_event"))


def display(path: Path) -> str:
    """A path as short as it is clear: relative to the working directory when inside it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel
