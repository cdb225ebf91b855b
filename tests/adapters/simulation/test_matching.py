"""The one matching engine, driven directly: quotes, trades and books in; executions and status changes out.

Every quantity and price is compared as an exact Decimal.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.simulation.matching import Execution, MatchingEngine, SimOrder, StatusChange
from engine.events import BookSnapshot, OrderStatus, OrderType, Quote, Side, TimeInForce, Trade

D = Decimal
S = OrderStatus
BUY, SELL = Side.BUY, Side.SELL
INST = "sim:X"


def make_engine(tick: str = "0.5", lot: str = "1", **kwargs: int) -> MatchingEngine:
    engine = MatchingEngine(**kwargs)
    engine.add_instrument(INST, D(tick), D(lot))
    return engine


def quote(bid: float, ask: float, bid_size: float = 10.0, ask_size: float = 10.0, ts: int = 1) -> Quote:
    return Quote(INST, bid, ask, bid_size, ask_size, ts, ts)


def trade(price: float, size: float, ts: int = 1) -> Trade:
    return Trade(INST, price, size, ts, ts)


def book(bids: Sequence[tuple[float, float]], asks: Sequence[tuple[float, float]], ts: int = 1) -> BookSnapshot:
    return BookSnapshot(INST, tuple(bids), tuple(asks), ts, ts)


def order(
    oid: str,
    side: Side,
    qty: str,
    type: OrderType = OrderType.MARKET,
    *,
    price: str | None = None,
    trigger: str | None = None,
    tif: TimeInForce = TimeInForce.GTC,
    notional: str | None = None,
    expires_ns: int | None = None,
) -> SimOrder:
    return SimOrder(
        id=oid,
        instrument=INST,
        side=side,
        type=type,
        qty=D(qty),
        price=None if price is None else D(price),
        trigger=None if trigger is None else D(trigger),
        tif=tif,
        notional=None if notional is None else D(notional),
        expires_ns=expires_ns,
        owner="alice",
    )


def limit(oid: str, side: Side, qty: str, price: str, tif: TimeInForce = TimeInForce.GTC, **kw: object) -> SimOrder:
    return order(oid, side, qty, OrderType.LIMIT, price=price, tif=tif, **kw)  # type: ignore[arg-type]


def fills(events: Sequence[object], oid: str | None = None) -> list[tuple[Decimal, Decimal]]:
    return [(e.qty, e.price) for e in events if isinstance(e, Execution) and (oid is None or e.order_id == oid)]


def changes(events: Sequence[object], oid: str | None = None) -> list[tuple[OrderStatus, str | None]]:
    return [(e.status, e.reason) for e in events if isinstance(e, StatusChange) and (oid is None or e.order_id == oid)]


# --- market orders --------------------------------------------------------------------------------


def test_market_buy_fills_at_the_ask_up_to_its_size_then_one_tick_worse_per_level() -> None:
    engine = make_engine(tick="0.5")
    engine.on_quote(quote(99.5, 100.0, ask_size=3))
    o = order("m1", BUY, "7")
    events = engine.submit(o, 2)
    assert fills(events) == [(D(3), D("100")), (D(3), D("100.5")), (D(1), D("101"))]
    assert all(isinstance(e.qty, Decimal) and isinstance(e.price, Decimal) for e in events if isinstance(e, Execution))
    assert all(e.liquidity == "taker" for e in events if isinstance(e, Execution))
    assert changes(events) == [(S.COMPLETED, None)]
    assert o.status is S.COMPLETED and o.filled == D(7)
    assert o.spent == D("300") + D("301.5") + D("101")
    assert o.avg_price == D("702.5") / D(7)


def test_market_sell_fills_at_the_bid_then_one_tick_lower_per_level() -> None:
    engine = make_engine(tick="0.05")
    engine.on_quote(quote(2500.0, 2500.05, bid_size=4))
    events = engine.submit(order("m1", SELL, "10"), 2)
    assert fills(events) == [(D(4), D("2500.0")), (D(4), D("2499.95")), (D(2), D("2499.90"))]


def test_synthetic_levels_are_exact_decimals_with_a_fractional_tick() -> None:
    # 100.1 + 0.1 + 0.1 is 100.30000000000001 in floats; the engine must say 100.3
    engine = make_engine(tick="0.1")
    engine.on_quote(quote(100.0, 100.1, ask_size=1))
    events = engine.submit(order("m1", BUY, "3"), 2)
    assert fills(events) == [(D(1), D("100.1")), (D(1), D("100.2")), (D(1), D("100.3"))]


def test_market_order_larger_than_the_synthetic_depth_expires_with_the_rest_unfilled() -> None:
    engine = make_engine(levels=3)
    engine.on_quote(quote(99.5, 100.0, ask_size=1))
    o = order("m1", BUY, "5")
    events = engine.submit(o, 2)
    assert fills(events) == [(D(1), D("100")), (D(1), D("100.5")), (D(1), D("101"))]
    assert changes(events) == [(S.EXPIRED, "no more liquidity")]
    assert o.filled == D(3) and not o.is_open


def test_market_order_without_a_quote_is_rejected() -> None:
    engine = make_engine()
    o = order("m1", BUY, "1")
    events = engine.submit(o, 2)
    assert fills(events) == []
    assert changes(events) == [(S.REJECTED, "no market data to fill a market order")]
    assert o.status is S.REJECTED


def test_market_buy_walks_the_book_levels_when_a_book_was_seen() -> None:
    engine = make_engine(tick="0.1")
    engine.on_book(book([(99.9, 5.0)], [(100.0, 2.0), (100.7, 1.0), (102.0, 5.0)]))
    events = engine.submit(order("m1", BUY, "4"), 2)
    assert fills(events) == [(D(2), D("100.0")), (D(1), D("100.7")), (D(1), D("102.0"))]


def test_market_sell_walks_the_book_bids_and_expires_when_the_book_runs_out() -> None:
    engine = make_engine(tick="0.1")
    engine.on_book(book([(99.9, 1.0), (99.0, 1.0)], [(100.0, 2.0)]))
    o = order("m1", SELL, "3")
    events = engine.submit(o, 2)
    assert fills(events) == [(D(1), D("99.9")), (D(1), D("99.0"))]
    assert changes(events) == [(S.EXPIRED, "no more liquidity")]


def test_a_quote_newer_than_the_book_is_the_touch_and_the_book_only_adds_depth_behind_it() -> None:
    engine = make_engine(tick="1")
    engine.on_book(book([(99.0, 5.0)], [(100.0, 1.0), (101.0, 1.0), (106.0, 3.0)], ts=1))
    engine.on_quote(quote(104.0, 105.0, ask_size=1, ts=2))  # the market moved up since the book
    events = engine.submit(order("m1", BUY, "2"), 3)
    # never at 100 or 101: the newer quote says those asks are gone
    assert fills(events) == [(D(1), D("105.0")), (D(1), D("106.0"))]


def test_a_book_older_than_its_ttl_is_ignored_in_favour_of_synthetic_levels() -> None:
    engine = make_engine(tick="1", book_ttl_ns=10)
    engine.on_book(book([(99.0, 5.0)], [(100.0, 1.0), (150.0, 1.0)], ts=1))
    engine.on_quote(quote(99.0, 100.0, ask_size=1, ts=100))
    events = engine.submit(order("m1", BUY, "2"), 101)
    assert fills(events) == [(D(1), D("100.0")), (D(1), D("101.0"))]


def test_liquidity_taken_from_a_quote_is_not_offered_again_until_the_next_quote() -> None:
    engine = make_engine(tick="0.5")
    engine.on_quote(quote(99.5, 100.0, ask_size=2))
    first = engine.submit(order("m1", BUY, "3"), 2)
    assert fills(first) == [(D(2), D("100")), (D(1), D("100.5"))]
    second = engine.submit(order("m2", BUY, "2"), 3)
    assert fills(second) == [(D(1), D("100.5")), (D(1), D("101"))]
    engine.on_quote(quote(99.5, 100.0, ask_size=2, ts=4))
    third = engine.submit(order("m3", BUY, "1"), 5)
    assert fills(third) == [(D(1), D("100"))]


def test_sell_side_liquidity_is_tracked_apart_from_the_buy_side() -> None:
    engine = make_engine(tick="0.5", levels=1)
    engine.on_quote(quote(99.5, 100.0, bid_size=1, ask_size=1))
    assert fills(engine.submit(order("b", BUY, "1"), 2)) == [(D(1), D("100"))]
    assert fills(engine.submit(order("s", SELL, "1"), 2)) == [(D(1), D("99.5"))]
    assert changes(engine.submit(order("b2", BUY, "1"), 2)) == [(S.EXPIRED, "no more liquidity")]


# --- limit orders ---------------------------------------------------------------------------------


def test_marketable_limit_takes_liquidity_up_to_its_price_then_rests_at_its_price() -> None:
    engine = make_engine(tick="0.5")
    engine.on_quote(quote(99.5, 100.0, ask_size=2))
    o = limit("l1", BUY, "10", "100.5")
    events = engine.submit(o, 2)
    assert fills(events) == [(D(2), D("100")), (D(2), D("100.5"))]
    assert changes(events) == []
    assert o.status is S.UPDATED and o.remaining == D(6)
    assert [x.id for x in engine.open_orders()] == ["l1"]
    # the rest is a resting bid at 100.5: the next quote fills it at its own price, as maker
    later = engine.on_quote(quote(99.0, 99.5, ask_size=3, ts=3))
    assert fills(later) == [(D(3), D("100.5"))]
    assert [e.liquidity for e in later if isinstance(e, Execution)] == ["maker"]


def test_resting_limit_fills_at_its_own_price_partially_across_quotes_until_completed() -> None:
    engine = make_engine()
    engine.on_quote(quote(99.5, 100.0))
    o = limit("l1", BUY, "5", "99")
    assert list(engine.submit(o, 1)) == []
    assert o.status is S.PLACED and o.filled == 0
    assert list(engine.on_quote(quote(99.0, 99.5, ask_size=2, ts=2))) == []  # 99.5 does not reach 99
    first = engine.on_quote(quote(98.0, 98.5, ask_size=2, ts=3))
    assert fills(first) == [(D(2), D("99"))] and o.status is S.UPDATED and changes(first) == []
    second = engine.on_quote(quote(98.0, 99.0, ask_size=2, ts=4))
    assert fills(second) == [(D(2), D("99"))] and o.status is S.UPDATED
    third = engine.on_quote(quote(98.0, 98.5, ask_size=2, ts=5))
    assert fills(third) == [(D(1), D("99"))]
    assert changes(third) == [(S.COMPLETED, None)]
    assert o.status is S.COMPLETED and o.filled == D(5) and o.avg_price == D(99)
    assert list(engine.open_orders()) == []


def test_resting_sell_fills_when_the_bid_rises_to_its_price() -> None:
    engine = make_engine()
    engine.on_quote(quote(99.5, 100.0))
    o = limit("l1", SELL, "3", "101")
    assert fills(engine.submit(o, 1)) == []
    assert fills(engine.on_quote(quote(100.5, 101.0, bid_size=5, ts=2))) == []
    events = engine.on_quote(quote(101.5, 102.0, bid_size=5, ts=3))
    assert fills(events) == [(D(3), D("101"))]
    assert o.status is S.COMPLETED


def test_resting_orders_fill_best_price_first_then_first_come_first_served() -> None:
    engine = make_engine()
    engine.on_quote(quote(97.0, 100.0))
    for o in (limit("a", BUY, "1", "99"), limit("b", BUY, "2", "99"), limit("c", BUY, "1", "99.5")):
        engine.submit(o, 1)
    events = engine.on_quote(quote(98.0, 99.0, ask_size=3, ts=2))
    assert [(e.order_id, e.qty, e.price) for e in events if isinstance(e, Execution)] == [
        ("c", D(1), D("99.5")),
        ("a", D(1), D("99")),
        ("b", D(1), D("99")),
    ]


def test_what_resting_orders_took_from_a_quote_is_not_offered_to_a_market_order() -> None:
    engine = make_engine(tick="0.5")
    engine.on_quote(quote(97.0, 101.0))
    engine.submit(limit("rest", BUY, "2", "100"), 1)
    assert fills(engine.on_quote(quote(99.5, 100.0, ask_size=3, ts=2))) == [(D(2), D("100"))]
    events = engine.submit(order("m", BUY, "2"), 3)
    assert fills(events) == [(D(1), D("100")), (D(1), D("100.5"))]


def test_resting_limit_fills_on_a_trade_through_its_price_but_not_on_a_trade_at_it() -> None:
    engine = make_engine()
    engine.on_quote(quote(98.0, 100.0))
    o = limit("l1", BUY, "5", "99")
    engine.submit(o, 1)
    assert fills(engine.on_trade(trade(99.0, 10.0))) == []
    events = engine.on_trade(trade(98.5, 2.0, ts=3))
    assert fills(events) == [(D(2), D("99"))]
    assert [e.liquidity for e in events if isinstance(e, Execution)] == ["maker"]
    assert o.status is S.UPDATED and o.remaining == D(3)
    assert engine.last_price(INST) == 98.5


def test_a_trade_fills_only_the_resting_orders_it_went_through() -> None:
    engine = make_engine()
    engine.on_quote(quote(98.0, 100.0))
    engine.submit(limit("high", BUY, "1", "99.5"), 1)
    engine.submit(limit("low", BUY, "1", "99"), 1)
    events = engine.on_trade(trade(99.0, 5.0, ts=2))
    assert [(e.order_id, e.qty, e.price) for e in events if isinstance(e, Execution)] == [("high", D(1), D("99.5"))]


def test_resting_sell_fills_on_a_trade_above_its_price() -> None:
    engine = make_engine()
    engine.on_quote(quote(98.0, 100.0))
    o = limit("l1", SELL, "2", "101")
    engine.submit(o, 1)
    events = engine.on_trade(trade(101.5, 7.0, ts=2))
    assert fills(events) == [(D(2), D("101"))]
    assert changes(events) == [(S.COMPLETED, None)]


# --- time in force --------------------------------------------------------------------------------


def test_ioc_limit_fills_what_crosses_and_the_remainder_expires() -> None:
    engine = make_engine()
    engine.on_quote(quote(99.5, 100.0, ask_size=2))
    o = limit("i1", BUY, "5", "100", TimeInForce.IOC)
    events = engine.submit(o, 2)
    assert fills(events) == [(D(2), D("100"))]
    assert changes(events) == [(S.EXPIRED, "immediate-or-cancel remainder")]
    assert o.filled == D(2) and not o.is_open
    assert list(engine.open_orders()) == []
    assert fills(engine.on_quote(quote(98.0, 98.5, ts=3))) == []  # nothing rests


def test_ioc_that_cannot_cross_expires_without_fills() -> None:
    engine = make_engine()
    engine.on_quote(quote(99.5, 100.0))
    events = engine.submit(limit("i1", BUY, "1", "99", TimeInForce.IOC), 2)
    assert fills(events) == [] and changes(events) == [(S.EXPIRED, "immediate-or-cancel remainder")]


def test_fok_with_too_little_liquidity_expires_untouched_and_takes_nothing_from_the_quote() -> None:
    engine = make_engine(tick="0.5")
    engine.on_quote(quote(99.5, 100.0, ask_size=2))
    o = limit("f1", BUY, "5", "100.5", TimeInForce.FOK)  # 2 at 100 + 2 at 100.5 = 4 < 5
    events = engine.submit(o, 2)
    assert fills(events) == []
    assert changes(events) == [(S.EXPIRED, "fill-or-kill: not enough liquidity")]
    assert o.filled == 0
    assert fills(engine.submit(order("m", BUY, "2"), 3)) == [(D(2), D("100"))]


def test_fok_with_enough_liquidity_fills_completely_at_once() -> None:
    engine = make_engine(tick="0.5")
    engine.on_quote(quote(99.5, 100.0, ask_size=2))
    o = limit("f1", BUY, "4", "100.5", TimeInForce.FOK)
    events = engine.submit(o, 2)
    assert fills(events) == [(D(2), D("100")), (D(2), D("100.5"))]
    assert changes(events) == [(S.COMPLETED, None)]


def test_fok_market_sell_counts_liquidity_after_what_was_already_taken() -> None:
    engine = make_engine(tick="0.5", levels=2)
    engine.on_quote(quote(99.5, 100.0, bid_size=2))
    engine.submit(order("m", SELL, "3"), 2)  # leaves 1 at 99
    o = order("f", SELL, "2", tif=TimeInForce.FOK)
    assert changes(engine.submit(o, 2)) == [(S.EXPIRED, "fill-or-kill: not enough liquidity")]
    o2 = order("f2", SELL, "1", tif=TimeInForce.FOK)
    assert fills(engine.submit(o2, 2)) == [(D(1), D("99.0"))]


def test_fok_counts_only_whole_lots_so_it_never_fills_partially() -> None:
    engine = make_engine(tick="1", lot="0.0001", levels=2)
    engine.on_quote(quote(99.0, 100.0, ask_size=0.00015))  # each level offers one whole lot
    o = order("f1", BUY, "0.0003", tif=TimeInForce.FOK)
    events = engine.submit(o, 2)
    assert fills(events) == [] and o.filled == 0
    assert changes(events) == [(S.EXPIRED, "fill-or-kill: not enough liquidity")]
    o2 = order("f2", BUY, "0.0002", tif=TimeInForce.FOK)
    assert fills(engine.submit(o2, 2)) == [(D("0.0001"), D("100.0")), (D("0.0001"), D("101.0"))]
    assert o2.status is S.COMPLETED


def test_post_only_that_would_cross_is_rejected_and_one_that_would_not_rests() -> None:
    engine = make_engine()
    engine.on_quote(quote(99.5, 100.0))
    crossing = limit("p1", BUY, "1", "100", TimeInForce.POST_ONLY)
    events = engine.submit(crossing, 2)
    assert fills(events) == []
    assert changes(events) == [(S.REJECTED, "post-only order would take liquidity")]
    passive = limit("p2", SELL, "1", "100", TimeInForce.POST_ONLY)
    assert list(engine.submit(passive, 2)) == []
    assert passive.status is S.PLACED
    assert fills(engine.on_quote(quote(100.5, 101.0, ts=3))) == [(D(1), D("100"))]


def test_day_order_expires_at_its_expiry_time_and_not_before() -> None:
    engine = make_engine()
    engine.on_quote(quote(99.5, 100.0))
    o = limit("d1", BUY, "1", "99", TimeInForce.DAY, expires_ns=1_000)
    engine.submit(o, 10)
    gtc = limit("g1", BUY, "1", "98")
    engine.submit(gtc, 10)
    assert engine.expire(999) == []
    events = engine.expire(1_000)
    assert changes(events) == [(S.EXPIRED, "end of day")]
    assert o.status is S.EXPIRED and gtc.status is S.PLACED
    assert fills(engine.on_quote(quote(97.0, 97.5, ts=1_001))) == [(D(1), D("98"))]  # only the GTC is left


# --- stops ----------------------------------------------------------------------------------------


def test_buy_stop_market_waits_then_triggers_when_the_ask_reaches_the_trigger_and_fills_as_market() -> None:
    engine = make_engine()
    engine.on_quote(quote(99.5, 100.0))
    o = order("s1", BUY, "2", OrderType.STOP_MARKET, trigger="101")
    assert list(engine.submit(o, 1)) == []
    assert o.status is S.PLACED and not o.triggered
    assert list(engine.on_quote(quote(100.0, 100.5, ts=2))) == []
    events = engine.on_quote(quote(100.5, 101.0, ask_size=1, ts=3))
    triggered = [e for e in events if isinstance(e, StatusChange) and e.triggered]
    assert [(e.status, e.reason) for e in triggered] == [(S.PLACED, "triggered")]
    assert events[0] is triggered[0]  # the trigger is reported before its fills
    assert fills(events) == [(D(1), D("101")), (D(1), D("101.5"))]
    assert o.status is S.COMPLETED and o.triggered


def test_sell_stop_market_triggers_when_the_bid_falls_to_the_trigger() -> None:
    engine = make_engine()
    engine.on_quote(quote(100.0, 100.5))
    o = order("s1", SELL, "3", OrderType.STOP_MARKET, trigger="99")
    engine.submit(o, 1)
    assert list(engine.on_quote(quote(99.5, 100.0, ts=2))) == []
    events = engine.on_quote(quote(99.0, 99.5, bid_size=5, ts=3))
    assert fills(events) == [(D(3), D("99.0"))]
    assert o.status is S.COMPLETED


def test_stop_triggers_on_a_trade_at_its_trigger_and_then_fills_against_the_quote() -> None:
    engine = make_engine()
    engine.on_quote(quote(99.5, 100.0, bid_size=5))
    o = order("s1", SELL, "2", OrderType.STOP_MARKET, trigger="99")
    engine.submit(o, 1)
    assert list(engine.on_trade(trade(99.5, 1.0, ts=2))) == []
    events = engine.on_trade(trade(99.0, 1.0, ts=3))
    assert [e.reason for e in events if isinstance(e, StatusChange) and e.triggered] == ["triggered"]
    assert fills(events) == [(D(2), D("99.5"))]


def test_stop_whose_trigger_is_already_reached_fires_on_arrival() -> None:
    engine = make_engine()
    engine.on_quote(quote(101.5, 102.0))
    o = order("s1", BUY, "1", OrderType.STOP_MARKET, trigger="101")
    events = engine.submit(o, 1)
    assert fills(events) == [(D(1), D("102"))]


def test_stop_limit_triggers_then_rests_as_a_limit_and_fills_at_its_price() -> None:
    engine = make_engine()
    engine.on_quote(quote(99.5, 100.0))
    o = order("sl", BUY, "2", OrderType.STOP_LIMIT, trigger="101", price="101")
    engine.submit(o, 1)
    events = engine.on_quote(quote(101.5, 102.0, ts=2))  # gaps over the limit: triggered, not filled
    assert [e.triggered for e in events if isinstance(e, StatusChange)] == [True]
    assert fills(events) == []
    assert o.triggered and o.status is S.PLACED
    assert [x.id for x in engine.open_orders()] == ["sl"]
    later = engine.on_quote(quote(100.0, 100.5, ask_size=5, ts=3))
    assert fills(later) == [(D(2), D("101"))]
    assert [e.liquidity for e in later if isinstance(e, Execution)] == ["maker"]


def test_triggered_stop_limit_that_crosses_takes_up_to_its_limit() -> None:
    engine = make_engine(tick="0.5")
    engine.on_quote(quote(99.5, 100.0))
    o = order("sl", BUY, "5", OrderType.STOP_LIMIT, trigger="101", price="101.5")
    engine.submit(o, 1)
    events = engine.on_quote(quote(100.5, 101.0, ask_size=2, ts=2))
    assert fills(events) == [(D(2), D("101")), (D(2), D("101.5"))]
    assert o.status is S.UPDATED and o.remaining == D(1)


# --- cancel and modify ----------------------------------------------------------------------------


def test_cancel_removes_a_resting_order_and_a_crossing_quote_no_longer_fills_it() -> None:
    engine = make_engine()
    engine.on_quote(quote(99.5, 100.0))
    o = limit("c1", BUY, "2", "99")
    engine.submit(o, 1)
    assert changes(engine.cancel("c1", 2)) == [(S.CANCELLED, None)]
    assert o.status is S.CANCELLED
    assert list(engine.on_quote(quote(97.0, 97.5, ts=3))) == []
    assert list(engine.cancel("c1", 4)) == []  # cancelling a finished order does nothing
    assert list(engine.cancel("nope", 4)) == []


def test_cancel_of_an_untriggered_stop_keeps_it_from_firing() -> None:
    engine = make_engine()
    engine.on_quote(quote(99.5, 100.0))
    o = order("s1", BUY, "1", OrderType.STOP_MARKET, trigger="101")
    engine.submit(o, 1)
    assert changes(engine.cancel("s1", 2, "user")) == [(S.CANCELLED, "user")]
    assert list(engine.on_quote(quote(101.0, 101.5, ts=3))) == []


def test_modify_to_a_marketable_price_fills_at_once() -> None:
    engine = make_engine()
    engine.on_quote(quote(99.5, 100.0, ask_size=5))
    o = limit("m1", BUY, "3", "99")
    engine.submit(o, 1)
    events = engine.modify("m1", 2, price=D("100"))
    assert changes(events)[0] == (S.PLACED, "modified")
    assert fills(events) == [(D(3), D("100"))]
    assert [e.liquidity for e in events if isinstance(e, Execution)] == ["taker"]
    assert o.status is S.COMPLETED and o.price == D(100)


def test_modify_loses_time_priority_at_the_same_price() -> None:
    engine = make_engine()
    engine.on_quote(quote(97.0, 100.0))
    engine.submit(limit("a", BUY, "1", "99"), 1)
    engine.submit(limit("b", BUY, "1", "99"), 1)
    engine.modify("a", 2, qty=D(2))
    events = engine.on_quote(quote(98.0, 99.0, ask_size=1, ts=3))
    assert [e.order_id for e in events if isinstance(e, Execution)] == ["b"]


def test_modify_to_at_or_below_the_filled_quantity_cancels_the_order() -> None:
    engine = make_engine()
    engine.on_quote(quote(99.5, 100.0, ask_size=2))
    o = limit("m1", BUY, "5", "100")
    engine.submit(o, 1)
    assert o.filled == D(2)
    assert changes(engine.modify("m1", 2, qty=D(2))) == [(S.CANCELLED, "modified below the filled quantity")]
    assert o.status is S.CANCELLED and o.filled == D(2)


def test_modify_to_a_quantity_off_the_lot_is_refused_and_changes_nothing() -> None:
    engine = make_engine(lot="10")
    engine.on_quote(quote(99.5, 100.0))
    o = limit("m1", BUY, "20", "99")
    engine.submit(o, 1)
    events = engine.modify("m1", 2, qty=D(25))
    assert fills(events) == []
    assert [r for _, r in changes(events)] == ["modify refused: quantity 25 is not a multiple of the lot size 10"]
    assert o.qty == D(20) and o.status is S.PLACED and [x.id for x in engine.open_orders()] == ["m1"]


def test_modify_of_an_untriggered_stop_moves_its_trigger() -> None:
    engine = make_engine()
    engine.on_quote(quote(99.5, 100.0))
    o = order("s1", BUY, "1", OrderType.STOP_MARKET, trigger="105")
    engine.submit(o, 1)
    assert list(engine.on_quote(quote(101.5, 102.0, ts=2))) == []
    events = engine.modify("s1", 3, trigger=D("101"))  # the ask (102) is already past it
    assert fills(events) == [(D(1), D("102"))]


# --- notional, lots, validation -------------------------------------------------------------------


def test_notional_market_buy_spends_at_most_the_notional_and_completes() -> None:
    engine = make_engine(tick="1000", lot="0.0001")
    engine.on_quote(quote(49_999_000.0, 50_000_000.0, ask_size=0.5))
    o = order("n1", BUY, "Infinity", notional="1234567")
    events = engine.submit(o, 2)
    assert fills(events) == [(D("0.0246"), D("50000000.0"))]  # 1234567 / 5e7 = 0.02469... -> 0.0246
    assert changes(events) == [(S.COMPLETED, None)]
    assert o.spent == D("1230000") and o.spent <= D("1234567")
    assert o.qty == o.filled == D("0.0246")


def test_notional_market_buy_walks_levels_and_stops_when_the_budget_cannot_buy_a_lot() -> None:
    engine = make_engine(tick="1000", lot="0.0001")
    engine.on_quote(quote(49_999_000.0, 50_000_000.0, ask_size=0.01))
    o = order("n1", BUY, "Infinity", notional="1234567")
    events = engine.submit(o, 2)
    assert fills(events) == [
        (D("0.01"), D("50000000.0")),
        (D("0.01"), D("50001000.0")),
        (D("0.0046"), D("50002000.0")),
    ]
    assert o.spent == D("500000") + D("500010") + D("230009.2")
    assert o.spent <= D("1234567")
    assert o.status is S.COMPLETED and o.qty == o.filled == D("0.0246")


def test_order_with_a_quantity_off_the_lot_is_rejected() -> None:
    engine = make_engine(lot="0.0001")
    engine.on_quote(quote(99.5, 100.0))
    o = order("x", BUY, "0.00015")
    events = engine.submit(o, 1)
    assert changes(events) == [(S.REJECTED, "quantity 0.00015 is not a multiple of the lot size 0.0001")]
    assert fills(events) == []


@pytest.mark.parametrize(
    ("o", "reason"),
    [
        (order("x", BUY, "1", OrderType.LIMIT), "a limit order needs a price"),
        (order("x", BUY, "1", OrderType.STOP_MARKET), "a stop_market order needs a trigger price"),
        (order("x", BUY, "0"), "quantity must be positive"),
        (order("x", BUY, "Infinity", notional="0"), "notional must be positive"),
    ],
)
def test_order_that_cannot_be_matched_as_given_is_rejected(o: SimOrder, reason: str) -> None:
    engine = make_engine()
    engine.on_quote(quote(99.5, 100.0))
    assert changes(engine.submit(o, 1)) == [(S.REJECTED, reason)]


def test_duplicate_order_id_is_rejected_and_the_first_order_is_untouched() -> None:
    engine = make_engine()
    engine.on_quote(quote(99.5, 100.0))
    first = limit("dup", BUY, "1", "99")
    engine.submit(first, 1)
    second = limit("dup", BUY, "1", "99")
    assert changes(engine.submit(second, 2)) == [(S.REJECTED, "duplicate order id dup")]
    assert first.status is S.PLACED and engine.orders["dup"] is first


def test_a_level_left_with_less_than_a_lot_does_not_stop_the_walk() -> None:
    engine = make_engine(tick="0.5", lot="0.0001")
    engine.on_quote(quote(99.5, 100.0, ask_size=0.00015))
    assert fills(engine.submit(order("a", BUY, "0.0001"), 2)) == [(D("0.0001"), D("100.0"))]
    # 0.00005 is left at 100: less than a lot, so the next order starts at 100.5
    events = engine.submit(order("b", BUY, "0.0002"), 2)
    assert fills(events) == [(D("0.0001"), D("100.5")), (D("0.0001"), D("101.0"))]
    assert changes(events) == [(S.COMPLETED, None)]
    # 100, 100.5 and 101 are used up (less than a lot left at each): the next order starts at 101.5
    assert fills(engine.submit(order("c", BUY, "0.0001"), 2)) == [(D("0.0001"), D("101.5"))]


_LOT = D("0.0001")
_sizes = st.floats(min_value=0.0, max_value=0.01, allow_nan=False, allow_infinity=False)
_lots = st.integers(min_value=1, max_value=300).map(lambda n: n * _LOT)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["quote", "trade", "market", "limit", "cancel"]),
            st.sampled_from([BUY, SELL]),
            _lots,
            st.integers(min_value=-4, max_value=4),
            _sizes,
        ),
        min_size=1,
        max_size=40,
    )
)
def test_lot_rounding_never_produces_a_fill_off_the_lot_or_an_overfill(steps: list[tuple]) -> None:  # type: ignore[type-arg]
    engine = make_engine(tick="0.5", lot=str(_LOT))
    orders: dict[str, SimOrder] = {}
    executed: dict[str, Decimal] = {}
    events: list[object] = list(engine.on_quote(quote(99.5, 100.0, 0.00737, 0.00412)))
    mid = 100.0
    for n, (kind, side, qty, offset, size) in enumerate(steps):
        ts = n + 2
        if kind == "quote":
            mid += offset * 0.5
            events += engine.on_quote(quote(mid - 0.5, mid, size, size / 3 + 0.00001, ts))
        elif kind == "trade":
            events += engine.on_trade(trade(mid + offset * 0.5, size, ts))
        elif kind == "cancel" and orders:
            events += engine.cancel(sorted(orders)[offset % len(orders)], ts)
        elif kind in ("market", "limit"):
            oid = f"o{n}"
            price = str(Decimal(repr(mid)) + offset * D("0.5")) if kind == "limit" else None
            o = order(oid, side, str(qty), OrderType.LIMIT if price else OrderType.MARKET, price=price)
            orders[oid] = o
            events += engine.submit(o, ts)
    for e in events:
        if isinstance(e, Execution):
            assert e.qty > 0 and e.qty % _LOT == 0, e
            executed[e.order_id] = executed.get(e.order_id, D(0)) + e.qty
    for oid, o in orders.items():
        assert executed.get(oid, D(0)) == o.filled <= o.qty
        assert o.status is not S.COMPLETED or o.filled == o.qty


def test_matching_drops_finished_orders_waiting_for_their_expiry_in_one_pass() -> None:
    matching = make_engine()
    matching.on_quote(quote(99.0, 101.0, 1e9, 1e9))
    day_end = 10**18
    for n in range(3000):
        order = SimOrder(id=f"o{n}", instrument=INST, side=BUY, type=OrderType.MARKET, qty=D(1), expires_ns=day_end)
        matching.submit(order, 2)
        matching.forget(order.id)
    assert not matching.orders
    assert len(matching._expiries) <= 1025  # not one entry per order ever placed
    matching.submit(SimOrder(id="r", instrument=INST, side=BUY, type=OrderType.LIMIT, qty=D(1), price=D(90), expires_ns=day_end), 3)
    assert [e.order_id for e in matching.expire(day_end)] == ["r"]
