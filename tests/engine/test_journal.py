"""The order journal: exact round-trips, WAL on disk, a second reader after a crash, atomic writes."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from engine.events import (
    Fill,
    Order,
    OrderReport,
    OrderStatus,
    OrderType,
    Pending,
    Side,
    TimeInForce,
)
from engine.orders.journal import EquityRow, Journal, Retired
from engine.orders.memory_journal import MemoryJournal
from tests.engine._order_fixtures import journal_path

D = Decimal
S = OrderStatus


def make_order(coid: str = "tb1", **kw: Any) -> Order:
    base: dict[str, Any] = dict(
        client_order_id=coid,
        strategy_id="s1",
        instrument="sim:BTC-KRW",
        venue="sim",
        side=Side.SELL,
        type=OrderType.STOP_LIMIT,
        qty=D("0.12345678901234567890"),
        price=D("98765432.10"),
        trigger_price=D("1E+2"),
        tif=TimeInForce.DAY,
        status=S.UPDATED,
        filled_qty=D("0.00000001"),
        avg_price=D("98765432.100000000000000001"),
        fees=D("-0.000"),
        venue_order_id="v-1",
        reason="partially filled",
        pending=Pending.CANCEL,
        stop_pending=True,
        after_market=True,
        options={"product": "CNC", "note": "ü"},
        created_ns=1_700_000_000_123_456_789,
        updated_ns=1_700_000_000_987_654_321,
    )
    base.update(kw)
    return Order(**base)


def make_fill(fill_id: str = "f1", coid: str = "tb1", **kw: Any) -> Fill:
    base: dict[str, Any] = dict(
        venue="sim",
        instrument="sim:BTC-KRW",
        side=Side.BUY,
        qty=D("0.10000000"),
        price=D("123456789.123456789"),
        fill_id=fill_id,
        fee=D("0.0000001"),
        fee_asset="KRW",
        client_order_id=coid,
        venue_order_id="v-1",
        strategy_id="s1",
        liquidity="maker",
        ts_event=1_700_000_000_000_000_001,
        ts_recv=1_700_000_000_000_000_002,
    )
    base.update(kw)
    return Fill(**base)


def make_report(**kw: Any) -> OrderReport:
    base: dict[str, Any] = dict(
        venue="sim",
        status=S.PLACED,
        client_order_id="tb1",
        venue_order_id="v-1",
        filled_qty=D("0"),
        avg_price=D("1.10"),
        qty=D("3.000"),
        price=D("0.1"),
        reason="ack",
        instrument="sim:BTC-KRW",
        side=Side.BUY,
        ts_event=5,
    )
    base.update(kw)
    return OrderReport(**base)


def assert_decimals_identical(a: Any, b: Any) -> None:
    """Equal and with the same digits and exponent (Decimal('1.10') is not Decimal('1.1') here)."""
    for name in a.__struct_fields__:
        x, y = getattr(a, name), getattr(b, name)
        assert x == y, name
        if isinstance(x, Decimal):
            assert isinstance(y, Decimal), name
            assert x.as_tuple() == y.as_tuple(), name


def test_orders_and_fills_round_trip_exactly() -> None:
    journal = Journal(None)
    order = make_order()
    fill = make_fill()
    journal.write(10, [("order", order.client_order_id, order), ("fill", order.client_order_id, fill)])
    state = journal.load()
    assert state.orders == {"tb1": order}
    assert state.fills == [fill]
    assert_decimals_identical(state.orders["tb1"], order)
    assert_decimals_identical(state.fills[0], fill)
    assert state.orders["tb1"].status is S.UPDATED
    assert state.orders["tb1"].pending is Pending.CANCEL


def test_reports_round_trip_and_are_counted() -> None:
    journal = Journal(None)
    report = make_report()
    journal.write(1, [("report", "tb1", report), ("report", "tb1", make_report(status=S.UPDATED))])
    state = journal.load()
    assert state.reports == 2
    assert state.orders == {}
    rows = journal._db.execute("SELECT body FROM events WHERE kind = 'report' ORDER BY seq").fetchall()
    assert journal._decoders["report"].decode(rows[0][0]) == report
    assert_decimals_identical(journal._decoders["report"].decode(rows[0][0]), report)


def test_load_keeps_the_last_snapshot_of_each_order_and_every_fill_in_order() -> None:
    journal = Journal(None)
    a1 = make_order("a", status=S.NEW, pending=None)
    a2 = make_order("a", status=S.PLACED, pending=None)
    b1 = make_order("b", status=S.SUBMITTED)
    journal.write(1, [("order", "a", a1)])
    journal.write(2, [("order", "b", b1), ("order", "a", a2)])
    journal.write(3, [("fill", "a", make_fill("f2", "a")), ("fill", "b", make_fill("f1", "b"))])
    state = journal.load()
    assert state.orders == {"a": a2, "b": b1}
    assert [f.fill_id for f in state.fills] == ["f2", "f1"]
    assert journal.written == 5


def test_unknown_record_kinds_are_skipped_on_load() -> None:
    journal = Journal(None)
    journal._db.execute(
        "INSERT INTO events (ts_ns, kind, client_order_id, body) VALUES (1, 'note', NULL, x'00')"
    )
    journal.write(2, [("order", "tb1", make_order())])
    assert set(journal.load().orders) == {"tb1"}


def test_a_file_journal_runs_in_wal_mode(tmp_path: Path) -> None:
    path = journal_path(tmp_path)  # the parent folder does not exist yet
    journal = Journal(path)
    try:
        assert path.exists()
        mode = journal._db.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode.lower() == "wal"
        journal.write(1, [("order", "tb1", make_order())])
        assert Path(str(path) + "-wal").exists()
    finally:
        journal.close()
    # the mode is a property of the file: a plain sqlite connection sees it too
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"


def test_a_second_journal_on_the_same_file_sees_every_commit_of_the_first(tmp_path: Path) -> None:
    path = journal_path(tmp_path)
    first = Journal(path)
    orders = [make_order(f"o{i}", qty=D(i + 1) / 7) for i in range(5)]
    fills = [make_fill(f"f{i}", f"o{i}", price=D("0.1") * (i + 1)) for i in range(5)]
    for i in range(5):
        first.write(i, [("order", orders[i].client_order_id, orders[i]), ("fill", fills[i].client_order_id, fills[i])])
    first.commit()
    # "restart without close": the first connection is never closed or checkpointed
    second = Journal(path)
    try:
        state = second.load()
        assert state.orders == {o.client_order_id: o for o in orders}
        assert state.fills == fills
        for o in orders:
            assert_decimals_identical(state.orders[o.client_order_id], o)
        # and the new one keeps appending after what the first wrote
        later = make_order("o0", status=S.CANCELLED, pending=None)
        second.write(99, [("order", "o0", later)])
        second.commit()
        assert first.load().orders["o0"] == later
    finally:
        second.close()
        first._db.close()


def test_a_write_is_all_or_nothing() -> None:
    journal = Journal(None)
    journal.write(1, [("order", "tb1", make_order())])

    class Unencodable:
        pass

    with pytest.raises(TypeError):
        journal.write(2, [("order", "tb2", make_order("tb2")), ("fill", "tb2", Unencodable())])
    state = journal.load()
    assert set(state.orders) == {"tb1"}
    assert state.fills == []
    assert journal.written == 1
    # and the journal still takes writes
    journal.write(3, [("order", "tb3", make_order("tb3"))])
    assert set(journal.load().orders) == {"tb1", "tb3"}


def test_a_record_that_cannot_be_journalled_is_refused_whole_and_the_journal_keeps_working() -> None:
    journal = Journal(None)
    journal.write(1, [("order", "tb1", make_order())])
    with pytest.raises(ValueError, match="unknown journal record kind"):
        journal.write(2, [("order", "tb2", make_order("tb2")), (None, "tb2", make_order("tb2"))])  # type: ignore[list-item]
    assert set(journal.load().orders) == {"tb1"}  # nothing of the refused write
    assert journal.written == 1
    journal.write(3, [("order", "tb3", make_order("tb3"))])
    assert set(journal.load().orders) == {"tb1", "tb3"}


class _FailingCommit:
    """Wraps the journal's connection; COMMIT fails once, as on a full disk."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.fail_next_commit = True

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT" and self.fail_next_commit:
            self.fail_next_commit = False
            raise sqlite3.OperationalError("database or disk is full")
        return self.db.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


def test_a_failed_commit_keeps_its_records_for_the_next_commit() -> None:
    journal = Journal(None)
    journal.write(1, [("order", "tb1", make_order())])
    journal.commit()
    journal.write(2, [("order", "tb2", make_order("tb2"))])
    real = journal._db
    journal._db = _FailingCommit(real)  # type: ignore[assignment]
    with pytest.raises(sqlite3.OperationalError):
        journal.commit()
    assert not real.in_transaction  # no half transaction left open
    assert journal.uncommitted  # tb2 is not lost: it waits for the next commit
    journal.write(3, [("order", "tb3", make_order("tb3"))])
    journal.commit()  # the disk has room again
    assert set(journal.load().orders) == {"tb1", "tb2", "tb3"}
    assert journal.commits == 2


def test_writes_are_grouped_until_commit() -> None:
    journal = Journal(None)
    for i in range(3):
        journal.write(i, [("order", f"tb{i}", make_order(f"tb{i}"))])
    assert journal.uncommitted and journal.commits == 0
    journal.commit()
    assert not journal.uncommitted and journal.commits == 1
    journal.commit()  # nothing pending: no empty commit
    assert journal.commits == 1


def test_journal_none_is_an_in_memory_journal_per_instance() -> None:
    a, b = Journal(None), Journal(None)
    a.write(1, [("order", "x", make_order("x"))])
    assert set(a.load().orders) == {"x"}
    assert b.load().orders == {}
    assert a.path is None


def test_close_checkpoints_the_wal_into_the_database_file(tmp_path: Path) -> None:
    path = journal_path(tmp_path)
    journal = Journal(path)
    journal.write(1, [("order", "tb1", make_order())])
    journal.close()
    wal = Path(str(path) + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    reopened = Journal(path)
    try:
        assert reopened.load().orders == {"tb1": make_order()}
    finally:
        reopened.close()



def _same_history(journal: Any) -> None:
    """Orders, reports, fills, a retirement, an equity sample and a run, in one journal."""
    placed = make_order("tb1", status=OrderStatus.PLACED, venue_order_id="v1")
    done = msgspec.structs.replace(placed, status=OrderStatus.COMPLETED, filled_qty=Decimal("1"))
    fill = Fill(venue="sim", instrument="sim:BTC-KRW", side=Side.BUY, qty=Decimal("1"), price=Decimal("100"),
                fill_id="f1", client_order_id="tb1", ts_event=3)
    report = OrderReport(venue="sim", client_order_id="tb1", venue_order_id="v1", status=OrderStatus.PLACED, ts_event=2)
    journal.write(1, [("order", "tb1", make_order("tb1")), ("order", "tb2", make_order("tb2"))])
    journal.write(2, [("report", "tb1", report), ("order", "tb1", placed)])
    journal.write(3, [("fill", "tb1", fill), ("order", "tb1", done)])
    journal.write_equity([EquityRow(ts_ns=3, strategy="s1", instrument="*", realized=Decimal("0"), unrealized=Decimal("1.5"),
                                    fees=Decimal("0"), qty=Decimal("1"), exposure=Decimal("100"), mark=100.0)])
    journal.write_run(1, "{}")
    journal.commit()
    journal.retire([Retired(order=done, fill_ids=["f1"], notional=Decimal("100"))])


def test_the_memory_journal_reads_back_what_the_sqlite_one_does() -> None:
    sqlite, memory = Journal(None), MemoryJournal()
    for journal in (sqlite, memory):
        _same_history(journal)
    assert memory.load() == sqlite.load()
    assert memory.record() == sqlite.record()
    assert memory.written == sqlite.written == 6
    for venue, coid, vid in (("sim", "tb1", None), ("sim", None, "v1"), ("sim", "nope", None), ("other", None, "v1")):
        assert memory.recall(venue, coid, vid) == sqlite.recall(venue, coid, vid)
    assert memory.recall("sim", "tb1", None) is not None
    for prefix in ("tb", "tb1", "tc", "x"):
        assert memory.holds_ids_from(prefix) == sqlite.holds_ids_from(prefix)
    assert memory.holds_ids_from("tb2") and not memory.holds_ids_from("tc")
    with pytest.raises(ValueError, match="unknown journal record kind"):
        memory.write(4, [("nonsense", None, make_order())])
