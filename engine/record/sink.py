"""Events -> Parquet files in the recorded layout (`layout.py`), one open writer per partition.

Called off the event loop (a thread), one call at a time. Each call appends a row group to each
partition it touches (`pq.ParquetWriter` kept open), so several flushes of one file keep every
earlier row; a writer is closed when its instrument's rows move on to the next day, after `roll_s`
(when given: a run killed outright loses at most that much), and all of them at `close()`. An open
file is written as `<name>.parquet.partial` and renamed when closed. Within a call a partition's rows are put in time order (stable); a row earlier
than one already written to its file is written at that later time (counted in `moved`), so every
file stays in the time order the historical venue requires.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from engine.events import Bar, Quote, Trade
from engine.record.layout import DAY_NS, SCHEMAS, columns, day_text, folder_of, kind_of, new_file, partial, ts_of


@dataclass
class _Open:
    day: int  # UTC days since the epoch
    path: Path  # its name once closed; written as `partial(path)` until then
    writer: pq.ParquetWriter
    opened: float  # time.monotonic() when it was opened

    def close(self) -> None:
        self.writer.close()
        partial(self.path).replace(self.path)


@dataclass
class SinkStats:
    rows: dict[str, int] = field(default_factory=lambda: {"quotes": 0, "trades": 0, "bars": 0})
    moved: int = 0  # rows written at a later time than their own, to keep a file in time order
    files: list[str] = field(default_factory=list)


class PartitionSink:
    def __init__(self, root: Path, *, roll_s: float | None = None) -> None:
        self.root = root
        self.roll_s = roll_s  # a file open this long is closed, the partition's next rows go to a new one
        self.stats = SinkStats()
        self._open: dict[tuple[str, str, str], _Open] = {}  # (venue, folder, symbol) -> its file now
        self._last: dict[tuple[str, str, str], int] = {}  # the latest ts written per partition key

    def write(self, events: Iterable[Quote | Trade | Bar]) -> None:
        groups: dict[tuple[str, str, str], list[Any]] = {}
        for event in events:
            venue, _, symbol = event.instrument.partition(":")
            key = (venue, folder_of(event), symbol)
            rows = groups.get(key)
            if rows is None:
                rows = groups[key] = []
            rows.append(event)
        for key, rows in groups.items():
            self._write_partition(key, rows)

    def _write_partition(self, key: tuple[str, str, str], rows: list[Any]) -> None:
        kind = kind_of(rows[0])
        pairs = sorted(((ts_of(e), e) for e in rows), key=itemgetter(0))
        floor = self._last.get(key)
        if floor is not None and pairs[0][0] < floor:
            moved = [(max(ts, floor), e) for ts, e in pairs]
            self.stats.moved += sum(1 for (ts, _), (was, _) in zip(moved, pairs, strict=True) if ts != was)
            pairs = moved
        self._last[key] = pairs[-1][0]
        start = 0
        while start < len(pairs):  # split at UTC midnights: one file per day
            day = pairs[start][0] // DAY_NS
            end = start
            while end < len(pairs) and pairs[end][0] // DAY_NS == day:
                end += 1
            chunk = pairs[start:end]
            table = columns(kind, key[2], [e for _, e in chunk], [ts for ts, _ in chunk])
            self._file(key, kind, day).writer.write_table(table)
            self.stats.rows[kind] += len(chunk)
            start = end

    def _file(self, key: tuple[str, str, str], kind: str, day: int) -> _Open:
        current = self._open.get(key)
        now = time.monotonic()
        if current is not None and current.day == day and (self.roll_s is None or now - current.opened < self.roll_s):
            return current
        if current is not None:
            del self._open[key]
            current.close()
        venue, folder, symbol = key
        path = new_file(self.root, venue, folder, day_text(day * DAY_NS), symbol)
        opened = _Open(day=day, path=path, writer=pq.ParquetWriter(partial(path), SCHEMAS[kind]), opened=now)
        self._open[key] = opened
        self.stats.files.append(str(path))
        return opened

    def close(self) -> None:
        """Close every open file (each gets its footer: readable from now on)."""
        opened, self._open = list(self._open.values()), {}
        for part in opened:
            part.close()
