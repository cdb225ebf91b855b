"""The order journal: every order event lands in SQLite (WAL) before the engine acts on it."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import msgspec

from engine.events import Fill, Order, OrderReport

_KINDS: dict[str, type[Any]] = {"order": Order, "fill": Fill, "report": OrderReport}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    ts_ns INTEGER NOT NULL,
    kind TEXT NOT NULL,
    client_order_id TEXT,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS retired (
    client_order_id TEXT PRIMARY KEY,
    venue TEXT NOT NULL,
    venue_order_id TEXT,
    body BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS retired_by_venue_id ON retired (venue, venue_order_id);
CREATE TABLE IF NOT EXISTS equity (
    ts_ns INTEGER NOT NULL,
    strategy TEXT NOT NULL,
    instrument TEXT NOT NULL,
    realized TEXT NOT NULL,
    unrealized TEXT NOT NULL,
    fees TEXT NOT NULL,
    qty TEXT NOT NULL,
    exposure TEXT NOT NULL,
    mark REAL
);
CREATE TABLE IF NOT EXISTS runs (
    started_ns INTEGER PRIMARY KEY,
    config TEXT NOT NULL,
    summary TEXT
);
"""
# `equity`: the run's PnL sampled on a fixed interval of engine time (engine/report/record.py),
# one row per strategy and instrument, `*` for all of them; read only by the report. `runs`: each
# run on this journal, its config (secrets masked) and, once it ended, its summary (JSON).
# `seq` is the rowid: rows are never deleted, so it only grows (AUTOINCREMENT would cost a
# second table update per row). No index: the journal is read once, in order, on restart.
_INSERT = "INSERT INTO events (ts_ns, kind, client_order_id, body) VALUES (?, ?, ?, ?)"
# `retired` is an index of finished orders the order book let go of (see `OrderBook.retire`):
# written once per order, off the event path, so a late report or fill can find its order again.
_RETIRE = "INSERT OR REPLACE INTO retired (client_order_id, venue, venue_order_id, body) VALUES (?, ?, ?, ?)"
_RECALL_BY_CLIENT_ID = "SELECT body FROM retired WHERE client_order_id = ?"
_RECALL_BY_VENUE_ID = "SELECT body FROM retired WHERE venue = ? AND venue_order_id = ?"
_EQUITY = "INSERT INTO equity VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
_RETIRED_ID_IN = "SELECT 1 FROM retired WHERE client_order_id >= ? AND client_order_id < ? LIMIT 1"
_EVENT_ID_IN = "SELECT 1 FROM events WHERE client_order_id >= ? AND client_order_id < ? LIMIT 1"
ALL = "*"  # an equity row over every strategy, or every instrument


class EquityRow(msgspec.Struct, frozen=True, kw_only=True):
    """One sample of the equity series: a strategy's (or all strategies') position and PnL in one
    instrument (or all), at engine time `ts_ns`. `exposure` is the gross value held, |qty| x mark."""

    ts_ns: int
    strategy: str
    instrument: str
    realized: Decimal
    unrealized: Decimal
    fees: Decimal
    qty: Decimal
    exposure: Decimal
    mark: float | None = None

    @property
    def net(self) -> Decimal:
        return self.realized + self.unrealized - self.fees


class RunRow(msgspec.Struct, frozen=True):
    """A run on this journal: when it started (engine time), its config and its summary (JSON)."""

    started_ns: int
    config: str
    summary: str | None


class JournalRecord(msgspec.Struct):
    """What a report needs from a journal: fills in order, the equity series, the runs."""

    fills: list[Fill]
    equity: list[EquityRow]
    runs: list[RunRow]


class NotAJournal(Exception):
    """A file `read_record` cannot read as a tickbus journal (missing, not SQLite, no events)."""


class Retired(msgspec.Struct):
    """A finished order out of the book's memory: what it needs back if the venue speaks of it."""

    order: Order
    fill_ids: list[str]  # the venue fill ids applied to it (duplicates stay recognised)
    notional: Decimal | None  # sum of price * qty of its fills, for an exact average


class JournalState(msgspec.Struct):
    """What a restart needs: the last snapshot of every order and every fill seen."""

    orders: dict[str, Order]
    fills: list[Fill]
    reports: int


class OrderJournal(Protocol):
    """What the engine needs of a journal: `Journal` (SQLite) or `MemoryJournal`."""

    path: Path | None
    written: int
    commits: int
    commit_seconds: float

    def write(self, ts_ns: int, records: Iterable[tuple[str, str | None, Any]]) -> None: ...
    def write_equity(self, rows: Iterable[EquityRow]) -> None: ...
    def commit(self) -> None: ...
    def load(self) -> JournalState: ...
    def retire(self, records: Iterable[Retired]) -> None: ...
    def recall(self, venue: str, client_order_id: str | None, venue_order_id: str | None) -> Retired | None: ...
    def holds_ids_from(self, prefix: str) -> bool: ...
    def write_run(self, started_ns: int, config: str) -> None: ...
    def record(self) -> JournalRecord: ...
    def close(self) -> None: ...


class Journal:
    """Append-only, in SQLite. `path=None` keeps the database in memory (tests); a run with no
    journal file uses `MemoryJournal`."""

    def __init__(self, path: str | Path | None, *, exclusive: bool = False) -> None:
        """`exclusive`: the run alone opens the file while it runs (a backtest): SQLite then keeps
        its lock and skips the shared-memory index, and checkpoints the log less often."""
        self.path = None if path is None else Path(path)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            ":memory:" if self.path is None else str(self.path),
            isolation_level=None,  # explicit transactions: group commit, see write()
            check_same_thread=False,
        )
        if exclusive:  # before WAL mode: the log then needs no shared-memory index
            self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
            self._db.execute("PRAGMA wal_autocheckpoint=10000")  # pages: the log grows to ~40 MB
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a commit survives the process dying; only an OS crash can lose the tail.
        # A backtest's (exclusive) journal skips the log's syncs too: a commit still survives
        # the process dying, and an OS crash costs nothing a re-run does not give back.
        self._db.execute("PRAGMA synchronous=OFF" if exclusive else "PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._encoder = msgspec.msgpack.Encoder(decimal_format="string")
        self._decoders = {kind: msgspec.msgpack.Decoder(cls) for kind, cls in _KINDS.items()}
        self._retired_decoder = msgspec.msgpack.Decoder(Retired)
        self.written = 0
        self.commits = 0
        self.commit_seconds = 0.0  # time spent in committed writes (the metrics' commit time)
        self._pending: list[tuple[int, str, str | None, bytes]] = []
        self._equity: list[tuple[Any, ...]] = []

    def write(self, ts_ns: int, records: Iterable[tuple[str, str | None, Any]]) -> None:
        """Take (kind, client order id, struct) records; `commit()` makes them durable.

        Records are encoded at once (a snapshot of the state now) and held until the commit,
        which writes everything pending in one statement and one transaction. The order manager
        commits before every request to a venue and at the end of every event-loop turn (group
        commit). Rows a crash could lose are ones no venue request has depended on yet.
        """
        encode = self._encoder.encode
        rows = []
        for kind, coid, body in records:
            if kind not in _KINDS:
                raise ValueError(f"unknown journal record kind {kind!r}")
            rows.append((ts_ns, kind, coid, encode(body)))
        self._pending.extend(rows)
        self.written += len(rows)

    def write_equity(self, rows: Iterable[EquityRow]) -> None:
        """Take one sample of the equity series; it is written with the next `commit()`."""
        self._equity.extend(
            (r.ts_ns, r.strategy, r.instrument, str(r.realized), str(r.unrealized), str(r.fees), str(r.qty),
             str(r.exposure), r.mark)
            for r in rows
        )

    @property
    def uncommitted(self) -> bool:
        return bool(self._pending or self._equity)

    def commit(self) -> None:
        """Write and commit everything pending; on failure the records stay pending for a retry."""
        if not self._pending and not self._equity:
            return
        rows, self._pending = self._pending, []
        equity, self._equity = self._equity, []
        db = self._db
        started = time.perf_counter()
        try:
            db.execute("BEGIN")
            if rows:
                db.executemany(_INSERT, rows)
            if equity:
                db.executemany(_EQUITY, equity)
            db.execute("COMMIT")
        except BaseException:
            # a failed COMMIT (disk full, I/O error) must not leave the transaction open: the
            # next BEGIN would fail, and every later commit with it
            if db.in_transaction:
                db.execute("ROLLBACK")
            self._pending[:0] = rows
            self._equity[:0] = equity
            raise
        self.commits += 1
        self.commit_seconds += time.perf_counter() - started

    def load(self) -> JournalState:
        self.commit()
        decoders = self._decoders
        cursor = self._db.execute("SELECT kind, body FROM events ORDER BY seq")
        return state_of((kind, decoders[kind].decode(body)) for kind, body in cursor if kind in decoders)

    def retire(self, records: Iterable[Retired]) -> None:
        """Record finished orders the book lets go of (committed at once, in one transaction)."""
        encode = self._encoder.encode
        rows = [(r.order.client_order_id, r.order.venue, r.order.venue_order_id, encode(r)) for r in records]
        db = self._db
        try:
            db.execute("BEGIN")
            db.executemany(_RETIRE, rows)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def recall(self, venue: str, client_order_id: str | None, venue_order_id: str | None) -> Retired | None:
        """A retired order by client id, or by the venue's id for it; None if none was retired."""
        row = None
        if client_order_id is not None:
            row = self._db.execute(_RECALL_BY_CLIENT_ID, (client_order_id,)).fetchone()
        if row is None and venue_order_id is not None:
            row = self._db.execute(_RECALL_BY_VENUE_ID, (venue, venue_order_id)).fetchone()
        return None if row is None else self._retired_decoder.decode(row[0])

    def holds_ids_from(self, prefix: str) -> bool:
        """Whether an order recorded here has a client id beginning with `prefix` (ids are [a-z0-9])."""
        self.commit()
        bounds = (prefix, prefix + "~")
        for query in (_RETIRED_ID_IN, _EVENT_ID_IN):
            if self._db.execute(query, bounds).fetchone() is not None:
                return True
        return False

    def write_run(self, started_ns: int, config: str) -> None:
        """Record this run's start and its config (JSON, secrets masked); committed at once."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, NULL)", (started_ns, config))

    def record(self) -> JournalRecord:
        """Everything committed so far that a report reads (before `close()`, for a journal in memory)."""
        self.commit()
        return _read_record(self._db)

    def close(self) -> None:
        try:
            self.commit()
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._db.close()


def state_of(records: Iterable[tuple[str, Any]]) -> JournalState:
    """What a restart needs from (kind, record) in journal order: every order's last snapshot, fills."""
    orders: dict[str, Order] = {}
    fills: list[Fill] = []
    reports = 0
    for kind, record in records:
        if kind == "order":
            orders[record.client_order_id] = record
        elif kind == "fill":
            fills.append(record)
        else:
            reports += 1
    return JournalState(orders=orders, fills=fills, reports=reports)


def _read_record(db: sqlite3.Connection) -> JournalRecord:
    decode = msgspec.msgpack.Decoder(Fill).decode
    fills = [decode(body) for (body,) in db.execute("SELECT body FROM events WHERE kind = 'fill' ORDER BY seq")]
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    equity: list[EquityRow] = []
    runs: list[RunRow] = []
    if "equity" in tables:  # a journal from before the equity series has fills only
        equity = [
            EquityRow(ts_ns=ts, strategy=s, instrument=i, realized=Decimal(r), unrealized=Decimal(u), fees=Decimal(f),
                      qty=Decimal(q), exposure=Decimal(e), mark=m)
            for ts, s, i, r, u, f, q, e, m in db.execute("SELECT * FROM equity ORDER BY rowid")
        ]
    if "runs" in tables:
        runs = [RunRow(*row) for row in db.execute("SELECT started_ns, config, summary FROM runs ORDER BY started_ns")]
    return JournalRecord(fills=fills, equity=equity, runs=runs)


def read_record(path: str | Path) -> JournalRecord:
    """A journal file read without changing it; `NotAJournal` says why it cannot be read."""
    file = Path(path)
    if not file.is_file():
        raise NotAJournal("no such file" if not file.exists() else "not a file")
    # read-write but only read: a read-only connection to a WAL file would leave its -wal and -shm behind
    db = _connect(file, "rw") or _connect(file, "ro")
    if db is None:
        raise NotAJournal("cannot open it")
    try:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "events" not in tables:
            raise NotAJournal("an SQLite file but not a tickbus journal (no events table)")
        return _read_record(db)
    except sqlite3.DatabaseError as exc:
        raise NotAJournal(f"not a tickbus journal ({exc})") from None
    finally:
        db.close()


def _connect(file: Path, mode: str) -> sqlite3.Connection | None:
    """An open connection, None if it cannot be opened in `mode`; `NotAJournal` if it is not SQLite."""
    try:
        db = sqlite3.connect(f"{file.resolve().as_uri()}?mode={mode}", uri=True)
    except sqlite3.OperationalError:
        return None
    try:
        db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        return db
    except sqlite3.OperationalError:  # cannot be read so (a read-only file, say)
        db.close()
        return None
    except sqlite3.DatabaseError as exc:
        db.close()
        raise NotAJournal(f"not a tickbus journal ({exc})") from None


def record_summary(path: str | Path, started_ns: int, summary: str) -> None:
    """Keep a finished run's summary (JSON) beside its config in the journal file."""
    db = sqlite3.connect(str(path))
    try:
        with db:
            db.execute("UPDATE runs SET summary = ? WHERE started_ns = ?", (summary, started_ns))
    finally:
        db.close()
