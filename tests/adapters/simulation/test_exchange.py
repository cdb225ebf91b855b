"""The simulated exchange behind every emulator: accounts, holds and history around the matching engine."""

from __future__ import annotations

from decimal import Decimal as D

from adapters.simulation.account import FeeSchedule
from adapters.simulation.exchange import (
    BalanceChanged,
    ExchangeError,
    ExchangeEvent,
    OrderChanged,
    OrderFilled,
    PublicTraded,
    QuoteTicked,
    SimExchange,
)
from engine.data.synthetic import WalkSpec
from engine.events import Instrument, OrderStatus, OrderType, Side

BTC = Instrument(
    id="emu:BTC-KRW", venue="emu", symbol="BTC-KRW", base="BTC", quote="KRW", exchange="EMU",
    tick_size=D(1000), lot_size=D("0.0001"),
)


def exchange() -> SimExchange:
    ex = SimExchange([(BTC, WalkSpec(instrument="BTC-KRW", price=135_000_000, tick=1000, size=2))], seed=3,
                     fees=FeeSchedule(bps=D(4)))
    ex.open_account("u", {"KRW": D(100_000_000), "BTC": D(1)})
    return ex


def test_an_order_refused_on_arrival_holds_nothing_afterwards() -> None:
    ex = exchange()
    order = ex.place("u", symbol="BTC-KRW", side=Side.BUY, type=OrderType.LIMIT, qty=D("0.00005"), price=D(100_000_000))
    assert order.status is OrderStatus.REJECTED  # half a lot
    account = ex.account("u")
    assert account.locked.get("KRW", D(0)) == 0
    assert account.free["KRW"] == D(100_000_000)


def test_a_market_buy_fills_and_moves_exact_amounts() -> None:
    ex = exchange()
    order = ex.place("u", symbol="BTC-KRW", side=Side.BUY, type=OrderType.MARKET, qty=D("0.01"))
    assert order.status is OrderStatus.COMPLETED
    fills = ex.fills["u"]
    spent = sum(f.qty * f.price for f in fills)
    fees = sum(f.fee for f in fills)
    account = ex.account("u")
    assert sum(f.qty for f in fills) == D("0.01")
    assert account.free["BTC"] == D("1.01")
    assert account.free["KRW"] == D(100_000_000) - spent - fees
    assert account.locked.get("KRW", D(0)) == 0


def test_a_buy_the_account_cannot_pay_for_is_refused_and_the_market_is_closed_when_it_says_so() -> None:
    ex = exchange()
    try:
        ex.place("u", symbol="BTC-KRW", side=Side.BUY, type=OrderType.LIMIT, qty=D(5), price=D(135_000_000))
    except ExchangeError as exc:
        assert exc.kind == "insufficient_funds"
    else:
        raise AssertionError("a 675M KRW buy on a 100M KRW account was accepted")
    ex.is_open = lambda inst, ts: False
    try:
        ex.place("u", symbol="BTC-KRW", side=Side.SELL, type=OrderType.MARKET, qty=D("0.1"))
    except ExchangeError as exc:
        assert exc.kind == "market_closed"
    else:
        raise AssertionError("an order was taken while the market was closed")


def test_a_resting_order_fills_as_the_price_process_reaches_it_and_lists_in_history() -> None:
    ex = exchange()
    bid = D(repr(ex.markets["BTC-KRW"].quote.bid))  # type: ignore[union-attr]
    order = ex.place("u", symbol="BTC-KRW", side=Side.BUY, type=OrderType.LIMIT, qty=D("0.01"), price=bid)
    assert order.is_open and ex.account("u").locked["KRW"] > 0
    for _ in range(2000):  # bounded: the seeded walk crosses the bid within a few hundred steps
        ex.step()
        if not order.is_open:
            break
    assert order.status is OrderStatus.COMPLETED
    assert ex.account("u").locked.get("KRW", D(0)) == 0
    assert [o.id for o in ex.orders("u")] == [order.id]


def test_listeners_get_typed_events_for_an_order_its_fills_and_the_balances_it_moves() -> None:
    ex = exchange()
    events: list[ExchangeEvent] = []
    unlisten = ex.listen(events.append)
    order = ex.place("u", symbol="BTC-KRW", side=Side.BUY, type=OrderType.MARKET, qty=D("0.01"))
    assert isinstance(events[0], OrderChanged) and events[0].order is order
    fills = [e for e in events if isinstance(e, OrderFilled)]
    assert [e.fill for e in fills] == ex.fills["u"]
    assert all(e.order is order and e.fill.owner == "u" for e in fills)
    assert {(e.owner, e.asset) for e in events if isinstance(e, BalanceChanged)} == {("u", "BTC"), ("u", "KRW")}
    assert isinstance(events[-1], OrderChanged) and events[-1].order.status is OrderStatus.COMPLETED
    events.clear()
    for _ in range(20):
        ex.step()
    assert {type(e) for e in events} >= {QuoteTicked}
    assert all(isinstance(e, QuoteTicked | PublicTraded) for e in events)
    unlisten()
    events.clear()
    ex.step()
    assert events == []
