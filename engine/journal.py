"""The order journal: every order event lands in SQLite (WAL) before the engine acts on it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec

from engine.events import Fill, Order, OrderReport

_KINDS: dict[str, type[Any]] = {"order": Order, "fill": Fill, "report": OrderReport}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ns INTEGER NOT NULL,
    kind TEXT NOT NULL,
    client_order_id TEXT,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_order ON events (client_order_id);
"""


class JournalState(msgspec.Struct):
    """What a restart needs: the last snapshot of every order and every fill seen."""

    orders: dict[str, Order]
    fills: list[Fill]
    reports: int


class Journal:
    """Append-only. `path=None` keeps it in memory (tests, backtests that ask for it)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path is None else Path(path)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            ":memory:" if self.path is None else str(self.path),
            isolation_level=None,  # explicit transactions: one commit per engine action
            check_same_thread=False,
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a commit survives the process dying; only an OS crash can lose the tail.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._encoder = msgspec.msgpack.Encoder(decimal_format="string")
        self._decoders = {kind: msgspec.msgpack.Decoder(cls) for kind, cls in _KINDS.items()}
        self.written = 0

    def write(self, ts_ns: int, records: Iterable[tuple[str, str | None, Any]]) -> None:
        """Write (kind, client order id, struct) records in one transaction, committed on return."""
        encode = self._encoder.encode
        rows = [(ts_ns, kind, coid, encode(body)) for kind, coid, body in records]
        db = self._db
        db.execute("BEGIN")
        try:
            db.executemany(
                "INSERT INTO events (ts_ns, kind, client_order_id, body) VALUES (?, ?, ?, ?)", rows
            )
            db.execute("COMMIT")
        except BaseException:
            # a failed COMMIT (disk full, I/O error) must not leave the transaction open: the
            # next write's BEGIN would fail, and every later write with it
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self.written += len(rows)

    def load(self) -> JournalState:
        orders: dict[str, Order] = {}
        fills: list[Fill] = []
        reports = 0
        cursor = self._db.execute("SELECT kind, body FROM events ORDER BY seq")
        for kind, body in cursor:
            decoder = self._decoders.get(kind)
            if decoder is None:
                continue
            record = decoder.decode(body)
            if kind == "order":
                orders[record.client_order_id] = record
            elif kind == "fill":
                fills.append(record)
            else:
                reports += 1
        return JournalState(orders=orders, fills=fills, reports=reports)

    def close(self) -> None:
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._db.close()
