"""The book of followed transactions: it delivers through the venue-sync core, and a leg's marks
(its cumulative fill, its status) move only once the order manager has taken the event."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adapters.smallcase import schemas as w
from adapters.smallcase.config import SmallcaseConfig
from adapters.smallcase.parsing import TransactionView
from adapters.smallcase.transactions import Book
from engine.events import Fill, Order, OrderReport, OrderStatus, OrderType, Side
from tests.engine.test_sync import RecordingSink, Refused, ScriptedVenue

S = OrderStatus
KEY = ("SBIN", "BUY")
VID = "TRX_1:SBIN:BUY"


class Manager(RecordingSink):
    """The order manager's side (the core tests' sink), which may also refuse only reports."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse_reports = 0

    def on_order_report(self, report: OrderReport) -> None:
        if self.refuse_reports:
            self.refuse_reports -= 1
            raise Refused("journal full")
        super().on_order_report(report)


def book_with_order(manager: Manager, qty: int = 5) -> Book:
    book = Book("smallcase", SmallcaseConfig(), manager, questions=ScriptedVenue(), venue_now_ns=lambda: 0,
                now_ns=lambda: 0, read_again=lambda: None)
    order = Order(client_order_id="c1", strategy_id="s1", instrument="sim:NSE:SBIN", venue="smallcase",
                  side=Side.BUY, type=OrderType.MARKET, qty=Decimal(qty))
    book.new("TRX_1", {KEY: order})
    return book


def completed(filled: str, price: str, word: str = "COMPLETE") -> TransactionView:
    o = w.BatchOrder(tradingsymbol="SBIN-EQ", transactionType="BUY", quantity=Decimal(5),
                     filledQuantity=Decimal(filled), averagePrice=Decimal(price), status=word)
    return TransactionView("TRX_1", status="COMPLETED", batches=(w.OrderBatch(batchId="B1", status="COMPLETED", orders=[o]),))


def test_a_new_transactions_orders_are_working_and_the_transaction_followed() -> None:
    book = book_with_order(Manager())
    assert book.sync.working == {VID}
    assert [t.transaction_id for t in book.followed(book.sync.working)] == ["TRX_1"]
    assert book.followed(frozenset()) == []  # nothing of it working, not begun, not expired here


def test_an_event_the_manager_refused_is_delivered_again_and_the_marks_move_only_once_taken() -> None:
    manager = Manager()
    book = book_with_order(manager)
    manager.refuse = 1
    with pytest.raises(Refused):
        book.apply(completed("5", "812.40"))
    tracked = book.transactions["TRX_1"]
    leg = tracked.legs[KEY]
    assert (leg.filled, leg.status, tracked.final) == (0, S.SUBMITTED, False)
    assert book.followed(book.sync.working) == [tracked]  # still read: nothing was taken

    book.apply(completed("5", "812.40"))
    book.apply(completed("5", "812.40"))  # a repeat (a postback after the poll) delivers nothing

    fill, report = manager.taken
    assert isinstance(fill, Fill) and isinstance(report, OrderReport)
    assert (fill.qty, fill.price, fill.fill_id) == (5, Decimal("812.40"), f"{VID}:5")
    assert (report.status, report.filled_qty, report.avg_price) == (S.COMPLETED, 5, Decimal("812.40"))
    assert (leg.filled, leg.status, tracked.final) == (5, S.COMPLETED, True)
    assert book.sync.working == set()


def test_a_report_refused_after_its_fill_was_taken_is_delivered_again_without_the_fill() -> None:
    manager = Manager()
    book = book_with_order(manager)
    book.apply(TransactionView("TRX_1", status="PROCESSING", batches=completed("2", "810", "PARTIAL").batches))
    del manager.taken[:]
    manager.refuse_reports = 1
    with pytest.raises(Refused):
        book.apply(completed("5", "812"))
    book.apply(completed("5", "812"))

    fill, report = manager.taken
    assert isinstance(fill, Fill) and (fill.qty, fill.price) == (3, Decimal("813.3333333333333333333333333"))
    assert isinstance(report, OrderReport) and (report.status, report.filled_qty) == (S.COMPLETED, 5)
    assert book.transactions["TRX_1"].legs[KEY].notional == Decimal("4060")
