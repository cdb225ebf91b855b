"""smallcase's wire words both ways: codes, venue order ids, tradingsymbols, the status tables and
the one rule for a status word no table knows (counted, logged once, nothing concluded)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import structlog

from adapters.india import Product
from adapters.smallcase import parsing as p
from adapters.smallcase import schemas as w
from adapters.smallcase.transactions import Leg
from engine.errors import InvalidOrder
from engine.events import Order, OrderStatus, OrderType, Side
from engine.venue.sync import VenueSync
from tests.engine.test_sync import RecordingSink, ScriptedVenue

S = OrderStatus


def status_words() -> tuple[p.StatusWords, VenueSync]:
    """The tables over the venue-sync core's rule for unknown words, as the venue builds them."""
    sync = VenueSync("smallcase", RecordingSink(), ScriptedVenue())
    return p.StatusWords(sync.unknown_status), sync


def order(qty: int = 5, **kw: object) -> Order:
    fields: dict[str, object] = {
        "client_order_id": "c1", "strategy_id": "s1", "instrument": "sim:NSE:SBIN", "venue": "smallcase",
        "side": Side.BUY, "type": OrderType.MARKET, "qty": Decimal(qty),
    }
    fields.update(kw)
    return Order(**fields)  # type: ignore[arg-type]


def batch(word: str, filled: int = 0, batch_status: str = "PARTIALLYFILLED") -> tuple[w.OrderBatch, ...]:
    o = w.BatchOrder(tradingsymbol="SBIN", transactionType="BUY", quantity=Decimal(5), filledQuantity=Decimal(filled),
                     averagePrice=Decimal("812.40") if filled else Decimal(0), status=word)
    return (w.OrderBatch(batchId="B1", status=batch_status, orders=[o]),)


def where(view: p.TransactionView, words: p.StatusWords, leg: Leg | None = None, **kw: bool) -> tuple[OrderStatus, str | None] | None:
    leg = leg or Leg(order(), "TRX_1:SBIN:BUY")
    states, batch_word = p.leg_states(view.batches)
    return p.target(leg, states.get(("SBIN", "BUY")), batch_word, view, words, **kw)


def test_every_documented_status_word_has_a_rule() -> None:
    assert set(w.ORDER_STATUSES) <= p.STATUS.keys()
    assert set(w.BATCH_STATUSES) <= p.BATCH_STATUS.keys()
    assert set(p.TRANSACTION_STATUS) == set(w.TRANSACTION_STATUSES)
    unused, in_progress, final = p.UNUSED, p.IN_PROGRESS, p.FINAL
    assert unused | in_progress | final == set(w.TRANSACTION_STATUSES)
    assert not (unused & in_progress or unused & final or in_progress & final)


def test_side_product_and_order_type_codes_are_smallcases() -> None:
    assert [p.side_code(s) for s in Side] == ["BUY", "SELL"]
    assert p.side_from_code(" sell ") is Side.SELL
    assert p.product_code(Product.CNC) == "CNC" and p.product_code(Product.NRML) == "NRML"
    assert p.order_type_code(OrderType.MARKET) == "MARKET" and p.order_type_code(OrderType.LIMIT) == "LIMIT"
    with pytest.raises(ValueError, match="does not support product MIS"):
        p.product_code(Product.MIS)
    with pytest.raises(ValueError, match="smallcase"):
        p.order_type_code(OrderType.STOP_LIMIT)
    with pytest.raises(ValueError, match="unknown side code"):
        p.side_from_code("B")


def test_a_venue_order_id_round_trips_and_a_foreign_one_is_refused() -> None:
    vid = p.venue_order_id("TRX_ab", "SBIN", "BUY")
    assert p.parse_venue_order_id(vid) == ("TRX_ab", "SBIN", "BUY")
    for bad in ("TRX_ab:SBIN", "TRX_ab::BUY", "a:b:c:d"):
        with pytest.raises(ValueError, match="not a smallcase venue order id"):
            p.parse_venue_order_id(bad)


@pytest.mark.parametrize(("symbol", "ticker"), [("SBIN", "SBIN"), ("NSE:SBIN-EQ", "SBIN"), (" sbin-be ", "SBIN"), ("-EQ", "-EQ")])
def test_a_tradingsymbol_names_its_ticker_without_exchange_or_series(symbol: str, ticker: str) -> None:
    assert p.ticker_of(symbol) == ticker


@pytest.mark.parametrize(
    ("kw", "error"),
    [({"type": OrderType.LIMIT, "price": Decimal(1)}, "market orders only"), ({"after_market": True}, "after-market"),
     ({"qty": Decimal("1.5")}, "whole number"), ({"options": {"product": "MIS"}}, "delivery"),
     ({"instrument": "sim:BSE:SBIN"}, "NSE tickers")],
)
def test_orders_a_securities_transaction_cannot_carry_are_invalid(kw: dict[str, object], error: str) -> None:
    with pytest.raises(InvalidOrder, match=error):
        p.security_of("smallcase", order(**kw))  # type: ignore[arg-type]


def test_fills_sum_over_batches_and_the_last_batch_has_the_last_word() -> None:
    first, again = batch("PARTIAL", filled=2)[0], batch("COMPLETE", filled=3, batch_status="FIXED")[0]
    states, word = p.leg_states([first, again])
    state = states[("SBIN", "BUY")]
    assert (state.filled, state.notional, state.word, word) == (5, Decimal("4062.00"), "COMPLETE", "FIXED")


def test_an_unknown_order_word_moves_nothing_is_counted_logged_once_and_kept_working() -> None:
    words, sync = status_words()
    view = p.TransactionView("TRX_1", status="PROCESSING", batches=batch("QUEUED"))
    with structlog.testing.capture_logs() as logs:
        assert where(view, words) == (S.SUBMITTED, None)  # where it was
        assert where(view, words) == (S.SUBMITTED, None)

    assert sync.stats.unknown_statuses == {"QUEUED": 2} and sync.working == {"TRX_1:SBIN:BUY"}
    (warning,) = [r for r in logs if r["event"].startswith("unknown order status")]
    assert (warning["status"], warning["venue_order_id"], warning["log_level"]) == ("QUEUED", "TRX_1:SBIN:BUY", "warning")


def test_an_unknown_order_word_still_lets_the_fills_complete_the_order() -> None:
    view = p.TransactionView("TRX_1", status="PROCESSING", batches=batch("QUEUED", filled=5))
    assert where(view, status_words()[0]) == (S.COMPLETED, None)


def test_in_a_completed_transaction_an_unknown_word_is_read_again_then_ends_with_what_filled() -> None:
    words, _ = status_words()
    view = p.TransactionView("TRX_1", status="COMPLETED", batches=batch("QUEUED", filled=2))
    assert where(view, words, finalise_unlisted=False) is None

    status, reason = where(view, words) or (None, None)

    assert status is S.CANCELLED and reason is not None and "2 of 5" in reason and "'QUEUED'" in reason


def test_an_unknown_batch_word_is_not_taken_for_a_rejection() -> None:
    words, sync = status_words()
    empty = (w.OrderBatch(batchId="B1", status="SETTLING"),)
    status, reason = where(p.TransactionView("TRX_1", status="COMPLETED", batches=empty), words) or (None, None)
    assert status is S.CANCELLED and reason is not None and "'SETTLING'" in reason
    assert sync.stats.unknown_statuses == {"SETTLING": 1}


def test_an_unknown_transaction_status_concludes_nothing_even_past_the_deadline() -> None:
    words, sync = status_words()
    view = p.TransactionView("TRX_1", status="ARCHIVED", past_deadline=True)
    assert words.phase(view.status) is None and where(view, words) is None
    assert sync.stats.unknown_statuses == {"ARCHIVED": 1}
    assert where(p.TransactionView("TRX_1", status="INITIALIZED", past_deadline=True), words) == (S.EXPIRED, "transaction_expired")
