"""PaperBroker as a Venue: a real bus, a clock, and a recording sink standing in for the order manager."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from adapters.india import IST, make_instrument, nse_equity, to_ns
from adapters.paper.broker import PaperBroker, PaperConfig
from adapters.simulation.account import FeeSchedule
from engine.clock import RealtimeClock, SimulatedClock
from engine.data.bus import Bus
from engine.errors import InsufficientFunds, InvalidOrder, MarketClosed, OrderNotFound
from engine.events import (
    Balance,
    BookSnapshot,
    Fill,
    Instrument,
    Order,
    OrderReport,
    OrderStatus,
    OrderType,
    Quote,
    Side,
    TimeInForce,
    Trade,
)
from engine.venue.contract import Venue, VenueContext

D = Decimal
S = OrderStatus
BUY, SELL = Side.BUY, Side.SELL
NS = 1_000_000_000
T = TypeVar("T")

RELIANCE = nse_equity("sim", "RELIANCE")
BTC = Instrument(
    id="sim:BTC-KRW", venue="sim", symbol="BTC-KRW", base="BTC", quote="KRW",
    exchange="GOPAX", tick_size=D(1000), lot_size=D("0.0001"),
)


def ist(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 7) -> int:
    return to_ns(datetime(2026, month, day, hour, minute, second, tzinfo=IST))


MONDAY_10 = ist(6, 10)  # 2026-07-06 is a Monday, not a holiday
MONDAY_16 = ist(6, 16)
MONDAY_0914 = ist(6, 9, 14, 59)
FRIDAY_16 = ist(3, 16)
SATURDAY_03 = ist(4, 3)
SATURDAY_10 = ist(4, 10)
NEXT_MONDAY_0915 = ist(6, 9, 15)


class Recorder:
    """What the order manager would be told, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def on_order_report(self, report: OrderReport) -> None:
        self.calls.append(("report", report))

    def on_fill(self, fill: Fill) -> None:
        self.calls.append(("fill", fill))

    def on_balance(self, balance: Balance) -> None:
        self.calls.append(("balance", balance))

    @property
    def reports(self) -> list[OrderReport]:
        return [x for kind, x in self.calls if kind == "report"]

    @property
    def fills(self) -> list[Fill]:
        return [x for kind, x in self.calls if kind == "fill"]

    def statuses(self, coid: str) -> list[OrderStatus]:
        return [r.status for r in self.reports if r.client_order_id == coid]

    def last_balance(self, asset: str) -> Balance:
        return [x for kind, x in self.calls if kind == "balance" and x.asset == asset][-1]


class Setup:
    def __init__(self, clock: Any, **config: Any) -> None:
        self.clock = clock
        self.bus = Bus()
        self.sink = Recorder()
        config.setdefault("balances", {"INR": D(1_000_000), "KRW": D(100_000_000), "RELIANCE": D(50)})
        self.broker = PaperBroker(VenueContext("paper", self.bus, clock, self.sink), PaperConfig(**config))
        self.broker.register_instruments([RELIANCE, BTC])
        self._n = 0

    async def __aenter__(self) -> Setup:
        await within(self.broker.connect())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await within(self.broker.close())

    def quote(self, inst: Instrument, bid: float, ask: float, bid_size: float = 100.0, ask_size: float = 100.0) -> None:
        now = self.clock.now_ns()
        self.bus.publish(Quote(inst.id, bid, ask, bid_size, ask_size, now, now), inst.id)

    def order(
        self,
        inst: Instrument,
        side: Side,
        qty: str,
        price: str | None = None,
        *,
        type: OrderType | None = None,
        trigger: str | None = None,
        tif: TimeInForce = TimeInForce.GTC,
        after_market: bool = False,
        coid: str | None = None,
    ) -> Order:
        self._n += 1
        if type is None:
            type = OrderType.MARKET if price is None else OrderType.LIMIT
        return Order(
            client_order_id=coid or f"c{self._n}",
            strategy_id="s1",
            instrument=inst.id,
            venue="paper",
            side=side,
            type=type,
            qty=D(qty),
            price=None if price is None else D(price),
            trigger_price=None if trigger is None else D(trigger),
            tif=tif,
            after_market=after_market,
        )

    async def place(self, order: Order) -> OrderReport:
        return await within(self.broker.place(order))

    async def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        return {b.asset: (b.free, b.locked) for b in await within(self.broker.balances())}


async def within(aw: Awaitable[T], timeout: float = 5.0) -> T:
    return await asyncio.wait_for(aw, timeout)


# --- the venue contract ---------------------------------------------------------------------------


async def test_paper_broker_is_a_venue_that_reports_its_starting_balances_from_config() -> None:
    async with Setup(SimulatedClock(MONDAY_10), balances={"INR": D("250000.50"), "BTC": D("0.75")}) as s:
        assert isinstance(s.broker, Venue)
        assert await s.balances() == {"BTC": (D("0.75"), D(0)), "INR": (D("250000.50"), D(0))}
        told = {x.asset: (x.free, x.locked) for kind, x in s.sink.calls if kind == "balance"}
        assert told == {"BTC": (D("0.75"), D(0)), "INR": (D("250000.50"), D(0))}
        assert {i.id for i in await within(s.broker.instruments())} == {RELIANCE.id, BTC.id}


async def test_limit_order_reports_placed_then_partial_fills_then_completed() -> None:
    async with Setup(RealtimeClock(start_ns=MONDAY_10)) as s:
        s.quote(RELIANCE, 2499.0, 2501.0)
        order = s.order(RELIANCE, BUY, "10", "2500")
        ack = await s.place(order)
        assert ack.status is S.PLACED and ack.filled_qty == 0
        assert s.sink.statuses(order.client_order_id) == [S.PLACED]
        for _ in range(3):
            s.quote(RELIANCE, 2498.0, 2500.0, ask_size=4)
        assert [(f.qty, f.price, f.liquidity) for f in s.sink.fills] == [
            (D(4), D(2500), "maker"), (D(4), D(2500), "maker"), (D(2), D(2500), "maker"),
        ]
        assert all(f.client_order_id == order.client_order_id for f in s.sink.fills)
        assert len({f.fill_id for f in s.sink.fills}) == 3  # venue fill ids for de-duplication
        # completed is implicit: the fills reach the quantity; no report says otherwise
        assert s.sink.statuses(order.client_order_id) == [S.PLACED]
        status = await within(s.broker.order_status(order))
        assert status is not None and status.status is S.COMPLETED
        assert status.filled_qty == D(10) and status.avg_price == D(2500)


async def test_placed_comes_before_the_fills_of_an_order_that_fills_on_arrival() -> None:
    async with Setup(SimulatedClock(MONDAY_10)) as s:
        s.quote(RELIANCE, 2499.0, 2500.0, ask_size=3)
        order = s.order(RELIANCE, BUY, "5")
        ack = await s.place(order)
        kinds = [(k, x.status if k == "report" else x.qty) for k, x in s.sink.calls if k != "balance"]
        assert kinds[0] == ("report", S.PLACED)
        assert [q for k, q in kinds[1:]] == [D(3), D(2)]
        assert [f.price for f in s.sink.fills] == [D("2500.0"), D("2500.05")]
        assert ack.status is S.COMPLETED and ack.filled_qty == D(5)


async def test_cancel_reports_cancelled_and_frees_the_held_funds() -> None:
    async with Setup(SimulatedClock(MONDAY_10)) as s:
        s.quote(RELIANCE, 2499.0, 2501.0)
        order = s.order(RELIANCE, BUY, "10", "2400")
        await s.place(order)
        assert (await s.balances())["INR"] == (D(976_000), D(24_000))
        report = await within(s.broker.cancel(order))
        assert report is not None and report.status is S.CANCELLED
        assert s.sink.statuses(order.client_order_id) == [S.PLACED, S.CANCELLED]
        assert (await s.balances())["INR"] == (D(1_000_000), D(0))
        assert s.sink.last_balance("INR").free == D(1_000_000)
        s.quote(RELIANCE, 2300.0, 2350.0)
        assert s.sink.fills == []


async def test_cancel_of_an_unknown_order_raises_order_not_found() -> None:
    async with Setup(SimulatedClock(MONDAY_10)) as s:
        with pytest.raises(OrderNotFound):
            await within(s.broker.cancel(s.order(RELIANCE, BUY, "1", "1")))
        assert await within(s.broker.order_status(s.order(RELIANCE, BUY, "1", "1"))) is None


async def test_ioc_remainder_is_reported_expired_and_its_hold_released() -> None:
    async with Setup(SimulatedClock(MONDAY_10)) as s:
        s.quote(RELIANCE, 2499.0, 2500.0, ask_size=3)
        order = s.order(RELIANCE, BUY, "10", "2500", tif=TimeInForce.IOC)
        ack = await s.place(order)
        assert [f.qty for f in s.sink.fills] == [D(3)]
        assert s.sink.statuses(order.client_order_id) == [S.PLACED, S.EXPIRED]
        assert ack.status is S.EXPIRED and ack.filled_qty == D(3)
        assert (await s.balances())["INR"] == (D(1_000_000) - D(7_500), D(0))
        assert await within(s.broker.open_orders()) == []


async def test_fees_appear_on_each_fill_and_in_the_balances() -> None:
    fees = FeeSchedule(bps=D(10), minimum=D(20))
    async with Setup(SimulatedClock(MONDAY_10), fees=fees) as s:
        s.quote(RELIANCE, 2499.0, 2500.0)
        await s.place(s.order(RELIANCE, BUY, "10"))
        (fill,) = s.sink.fills
        assert fill.fee == D("25.000") and fill.fee_asset == "INR"  # 10 bps of 25,000
        balances = await s.balances()
        assert balances["INR"] == (D(1_000_000) - D(25_000) - D(25), D(0))
        assert balances["RELIANCE"] == (D(60), D(0))
        await s.place(s.order(RELIANCE, SELL, "1"))
        assert s.sink.fills[-1].fee == D(20)  # 2.499 would be below the minimum
        assert (await s.balances())["INR"][0] == D(1_000_000) - D(25_025) + D(2_499) - D(20)
        assert s.sink.last_balance("INR").free == (await s.balances())["INR"][0]


async def test_insufficient_funds_raises_and_nothing_is_held_or_reported() -> None:
    async with Setup(SimulatedClock(MONDAY_10), balances={"INR": D(10_000)}) as s:
        s.quote(RELIANCE, 2499.0, 2500.0)
        order = s.order(RELIANCE, BUY, "5", "2500")
        with pytest.raises(InsufficientFunds, match="insufficient funds"):
            await s.place(order)
        with pytest.raises(InsufficientFunds):
            await s.place(s.order(RELIANCE, SELL, "1", "2500"))  # no RELIANCE to sell
        assert await s.balances() == {"INR": (D(10_000), D(0))}
        assert s.sink.reports == []
        assert await within(s.broker.order_status(order)) is None


@pytest.mark.parametrize(
    ("at", "exchange"),
    [(MONDAY_16, "NSE"), (SATURDAY_10, "NSE"), (MONDAY_0914, "NSE"), (MONDAY_16, "BSE"), (ist(26, 11, month=1), "NSE")],
    ids=["monday-16:00", "saturday-10:00", "monday-09:14:59", "bse-monday-16:00", "republic-day-holiday"],
)
async def test_order_outside_market_hours_raises_market_closed(at: int, exchange: str) -> None:
    inst = RELIANCE if exchange == "NSE" else make_instrument("sim", "BSE", "RELIANCE", D("0.05"), D(1), "equity")
    async with Setup(RealtimeClock(start_ns=at)) as s:
        s.broker.register_instruments([inst])
        s.quote(inst, 2499.0, 2500.0)
        with pytest.raises(MarketClosed, match=f"market closed for {exchange}"):
            await s.place(s.order(inst, BUY, "1", "2500"))
        assert s.sink.reports == [] and s.sink.fills == []
        assert (await s.balances())["INR"] == (D(1_000_000), D(0))


async def test_holidays_from_config_close_the_market_on_a_weekday() -> None:
    async with Setup(RealtimeClock(start_ns=MONDAY_10), holidays=[datetime(2026, 7, 6).date()]) as s:
        assert s.broker.market_is_open(RELIANCE, MONDAY_10) is False
        s.quote(RELIANCE, 2499.0, 2500.0)
        with pytest.raises(MarketClosed):
            await s.place(s.order(RELIANCE, BUY, "1"))


async def test_nse_order_at_the_open_is_accepted() -> None:
    async with Setup(RealtimeClock(start_ns=ist(6, 9, 15))) as s:
        s.quote(RELIANCE, 2499.0, 2500.0)
        ack = await s.place(s.order(RELIANCE, BUY, "1"))
        assert ack.status is S.COMPLETED


async def test_crypto_instrument_trades_at_any_hour() -> None:
    async with Setup(RealtimeClock(start_ns=SATURDAY_03)) as s:
        assert s.broker.market_is_open(BTC, SATURDAY_03) is True
        assert s.broker.market_is_open(RELIANCE, SATURDAY_03) is False
        s.quote(BTC, 49_999_000.0, 50_000_000.0, ask_size=1.0)
        ack = await s.place(s.order(BTC, BUY, "0.01"))
        assert ack.status is S.COMPLETED
        assert [(f.qty, f.price) for f in s.sink.fills] == [(D("0.01"), D("50000000.0"))]
        assert (await s.balances())["BTC"] == (D("0.01"), D(0))


async def test_after_market_order_is_held_and_released_into_matching_at_the_next_open() -> None:
    clock = SimulatedClock(FRIDAY_16)
    async with Setup(clock) as s:
        s.quote(RELIANCE, 2499.0, 2501.0)
        order = s.order(RELIANCE, BUY, "10", "2500", after_market=True)
        ack = await s.place(order)
        assert ack.status is S.PLACED and ack.after_market is True
        held = await within(s.broker.order_status(order))
        assert held is not None and held.status is S.PLACED and held.after_market is True
        assert [r.client_order_id for r in await within(s.broker.open_orders())] == [order.client_order_id]
        s.quote(RELIANCE, 2400.0, 2450.0)  # would fill it now, but the market is shut
        assert s.sink.fills == []
        clock.advance_to(NEXT_MONDAY_0915 - 1)  # over the weekend, a nanosecond short of the open
        assert s.sink.fills == [] and s.sink.statuses(order.client_order_id) == []
        s.quote(RELIANCE, 2499.0, 2501.0)  # Monday's first quote does not reach 2500
        clock.advance_to(NEXT_MONDAY_0915)
        assert s.sink.statuses(order.client_order_id) == [S.PLACED]
        assert (await s.balances())["INR"] == (D(975_000), D(25_000))  # held from the open on
        s.quote(RELIANCE, 2495.0, 2498.0, ask_size=10)
        assert [(f.qty, f.price, f.ts_event) for f in s.sink.fills] == [(D(10), D(2500), NEXT_MONDAY_0915)]
        status = await within(s.broker.order_status(order))
        assert status is not None and status.status is S.COMPLETED
        assert (await s.balances())["RELIANCE"] == (D(60), D(0))


async def test_after_market_market_order_fills_against_the_first_quote_after_the_open() -> None:
    clock = SimulatedClock(MONDAY_16)
    async with Setup(clock) as s:
        s.quote(RELIANCE, 2499.0, 2500.0)
        order = s.order(RELIANCE, SELL, "5", after_market=True)
        assert (await s.place(order)).after_market is True
        clock.advance_to(ist(7, 9, 15))  # Tuesday's open
        assert [(f.qty, f.price) for f in s.sink.fills] == [(D(5), D("2499.0"))]


async def test_after_market_order_cancelled_while_held_is_never_released() -> None:
    clock = SimulatedClock(MONDAY_16)
    async with Setup(clock) as s:
        s.quote(RELIANCE, 2499.0, 2500.0)
        order = s.order(RELIANCE, BUY, "1", after_market=True)
        await s.place(order)
        report = await within(s.broker.cancel(order))
        assert report is not None and report.status is S.CANCELLED
        clock.advance_to(ist(7, 9, 15))
        assert s.sink.reports == [] and s.sink.fills == []
        assert await within(s.broker.open_orders()) == []
        assert await within(s.broker.order_status(order)) is None


async def test_after_market_order_without_funds_at_the_open_is_cancelled_and_forgotten() -> None:
    clock = SimulatedClock(MONDAY_16)
    async with Setup(clock, balances={"INR": D(3_000)}) as s:
        s.quote(RELIANCE, 2499.0, 2500.0)
        order = s.order(RELIANCE, BUY, "2", "2500", after_market=True)
        await s.place(order)
        clock.advance_to(ist(7, 9, 15))
        (report,) = s.sink.reports
        assert report.status is S.CANCELLED and "insufficient funds" in (report.reason or "")
        assert await within(s.broker.order_status(order)) is None
        assert await within(s.broker.open_orders()) == []


async def test_day_order_on_nse_expires_at_the_1530_close() -> None:
    clock = SimulatedClock(MONDAY_10)
    async with Setup(clock) as s:
        s.quote(RELIANCE, 2499.0, 2501.0)
        order = s.order(RELIANCE, BUY, "4", "2400", tif=TimeInForce.DAY)
        await s.place(order)
        close = ist(6, 15, 30)
        clock.advance_to(close - 1)
        assert s.sink.statuses(order.client_order_id) == [S.PLACED]
        clock.advance_to(close)
        assert s.sink.statuses(order.client_order_id) == [S.PLACED, S.EXPIRED]
        expired = [r for r in s.sink.reports if r.status is S.EXPIRED]
        assert expired[0].ts_event == close and expired[0].reason == "end of day"
        assert (await s.balances())["INR"] == (D(1_000_000), D(0))


async def test_day_order_expires_at_the_close_even_when_its_float_timer_fires_a_nanosecond_early() -> None:
    close = ist(6, 15, 30)
    # a placement time whose delay to the close does not survive the round trip through float seconds
    start = next(
        close - d for d in range(NS, 17_000 * NS, 7_777_777_777) if int((d / NS) * NS) < d
    )
    clock = SimulatedClock(start)
    async with Setup(clock) as s:
        s.quote(RELIANCE, 2499.0, 2501.0)
        order = s.order(RELIANCE, BUY, "1", "2400", tif=TimeInForce.DAY)
        await s.place(order)
        clock.advance_to(close)
        assert s.sink.statuses(order.client_order_id) == [S.PLACED, S.EXPIRED]


async def test_gtc_order_outlives_the_close() -> None:
    clock = SimulatedClock(MONDAY_10)
    async with Setup(clock) as s:
        s.quote(RELIANCE, 2499.0, 2501.0)
        order = s.order(RELIANCE, BUY, "1", "2400")
        await s.place(order)
        clock.advance_to(ist(7, 10))
        assert s.sink.statuses(order.client_order_id) == [S.PLACED]


async def test_latency_delays_placement_on_the_engine_clock() -> None:
    clock = SimulatedClock(MONDAY_10)
    async with Setup(clock, latency_ms=250.0) as s:
        s.quote(RELIANCE, 2499.0, 2500.0)
        task = asyncio.create_task(s.broker.place(s.order(RELIANCE, BUY, "1")))
        try:
            for _ in range(5):
                await asyncio.sleep(0)
            clock.advance_to(MONDAY_10 + 249_000_000)
            for _ in range(5):
                await asyncio.sleep(0)
            assert not task.done() and s.sink.reports == []
            clock.advance_to(MONDAY_10 + 250_000_000)
            ack = await within(task)
        finally:
            task.cancel()
        assert ack.status is S.COMPLETED
        assert s.sink.fills[0].ts_event == MONDAY_10 + 250_000_000


async def test_market_buy_without_a_quote_is_rejected_not_placed() -> None:
    async with Setup(SimulatedClock(MONDAY_10)) as s:
        order = s.order(RELIANCE, BUY, "1")
        ack = await s.place(order)
        assert ack.status is S.REJECTED and ack.reason == "no market data to fill a market order"
        assert s.sink.statuses(order.client_order_id) == [S.REJECTED]
        sell = s.order(RELIANCE, SELL, "1")
        assert (await s.place(sell)).status is S.REJECTED
        assert s.sink.statuses(sell.client_order_id) == [S.REJECTED]
        assert (await s.balances())["RELIANCE"] == (D(50), D(0))


async def test_post_only_that_would_cross_is_rejected_without_being_reported_placed() -> None:
    async with Setup(SimulatedClock(MONDAY_10)) as s:
        s.quote(RELIANCE, 2499.0, 2500.0)
        order = s.order(RELIANCE, BUY, "1", "2500", tif=TimeInForce.POST_ONLY)
        ack = await s.place(order)
        assert ack.status is S.REJECTED and ack.reason == "post-only order would take liquidity"
        assert s.sink.statuses(order.client_order_id) == [S.REJECTED]  # never placed -> rejected
        assert (await s.balances())["INR"] == (D(1_000_000), D(0))


async def test_order_off_the_lot_is_rejected() -> None:
    async with Setup(SimulatedClock(MONDAY_10)) as s:
        s.quote(BTC, 49_999_000.0, 50_000_000.0)
        ack = await s.place(s.order(BTC, BUY, "0.00015", "50000000"))
        assert ack.status is S.REJECTED and "lot size" in (ack.reason or "")
        assert (await s.balances())["KRW"] == (D(100_000_000), D(0))


async def test_stop_order_is_placed_with_its_stop_pending_then_reported_triggered() -> None:
    async with Setup(SimulatedClock(MONDAY_10)) as s:
        s.quote(RELIANCE, 2499.0, 2500.0)
        order = s.order(RELIANCE, SELL, "2", type=OrderType.STOP_MARKET, trigger="2490")
        ack = await s.place(order)
        assert ack.status is S.PLACED and ack.stop_pending is True
        assert s.sink.reports[0].stop_pending is True
        s.quote(RELIANCE, 2490.0, 2491.0)
        triggered = [r for r in s.sink.reports if r.reason == "triggered"]
        assert len(triggered) == 1 and triggered[0].stop_pending is False
        assert [(f.qty, f.price) for f in s.sink.fills] == [(D(2), D("2490.0"))]


async def test_trades_and_books_on_the_bus_reach_the_matching_engine() -> None:
    clock = SimulatedClock(MONDAY_10)
    async with Setup(clock) as s:
        s.quote(RELIANCE, 2499.0, 2501.0)
        order = s.order(RELIANCE, BUY, "3", "2500")
        await s.place(order)
        s.bus.publish(Trade(RELIANCE.id, 2499.5, 1.0, MONDAY_10, MONDAY_10), RELIANCE.id)
        assert [(f.qty, f.price) for f in s.sink.fills] == [(D(1), D(2500))]
        book = BookSnapshot(RELIANCE.id, ((2499.0, 9.0),), ((2500.0, 1.0), (2500.5, 9.0)), MONDAY_10, MONDAY_10)
        s.bus.publish(book, RELIANCE.id)
        assert [(f.qty, f.price) for f in s.sink.fills] == [(D(1), D(2500)), (D(1), D(2500))]
        await s.place(s.order(RELIANCE, BUY, "2"))
        assert [f.price for f in s.sink.fills[2:]] == [D("2500.5")]  # walks the book, not ticks
        await within(s.broker.close())
        s.quote(RELIANCE, 2400.0, 2401.0)  # closed: no longer listening
        assert len(s.sink.fills) == 3


async def test_modify_below_the_filled_quantity_cancels_without_creating_money() -> None:
    async with Setup(SimulatedClock(MONDAY_10)) as s:
        s.quote(RELIANCE, 2499.0, 2500.0, ask_size=4)
        order = s.order(RELIANCE, BUY, "10", "2500")
        await s.place(order)
        report = await within(s.broker.modify(order, qty=D(3)))
        assert report is not None and report.status is S.CANCELLED
        inr = (await s.balances())["INR"]
        assert inr == (D(1_000_000) - D(10_000), D(0))


async def test_modify_to_a_marketable_price_fills_and_holds_the_new_amount() -> None:
    async with Setup(SimulatedClock(MONDAY_10), balances={"INR": D(25_010)}) as s:
        s.quote(RELIANCE, 2499.0, 2501.0)
        order = s.order(RELIANCE, BUY, "10", "2400")
        await s.place(order)
        report = await within(s.broker.modify(order, price=D("2501")))
        assert report is not None and report.status is S.COMPLETED and report.price == D(2501)
        assert [(f.qty, f.price) for f in s.sink.fills] == [(D(10), D("2501.0"))]
        assert await s.balances() == {"INR": (D(0), D(0)), "RELIANCE": (D(10), D(0))}


async def test_modify_that_needs_more_funds_than_are_free_is_refused_and_the_order_keeps_working() -> None:
    async with Setup(SimulatedClock(MONDAY_10), balances={"INR": D(30_000)}) as s:
        s.quote(RELIANCE, 2499.0, 2501.0)
        order = s.order(RELIANCE, BUY, "10", "2400")
        await s.place(order)
        with pytest.raises(InsufficientFunds):
            await within(s.broker.modify(order, qty=D(13)))  # 31,200
        assert (await s.balances())["INR"] == (D(6_000), D(24_000))
        status = await within(s.broker.order_status(order))
        assert status is not None and status.status is S.PLACED
        with pytest.raises(InvalidOrder):
            await within(s.broker.modify(order, qty=D("10.5")))


async def test_a_retried_placement_with_the_same_client_order_id_returns_the_same_order() -> None:
    async with Setup(SimulatedClock(MONDAY_10)) as s:
        s.quote(RELIANCE, 2499.0, 2501.0)
        order = s.order(RELIANCE, BUY, "10", "2400")
        await s.place(order)
        again = await s.place(order)
        assert again.status is S.PLACED and again.client_order_id == order.client_order_id
        assert (await s.balances())["INR"] == (D(976_000), D(24_000))  # held once
        assert len(await within(s.broker.open_orders())) == 1
        assert (await within(s.broker.cancel(order))).status is S.CANCELLED  # type: ignore[union-attr]
        assert (await s.balances())["INR"] == (D(1_000_000), D(0))


async def test_order_status_open_orders_fills_since_and_balances_answer_consistently() -> None:
    clock = SimulatedClock(MONDAY_10)
    async with Setup(clock) as s:
        s.quote(RELIANCE, 2499.0, 2501.0)
        resting = s.order(RELIANCE, BUY, "5", "2400")
        partly = s.order(RELIANCE, SELL, "6", "2600")
        done = s.order(RELIANCE, BUY, "2")
        for o in (resting, partly, done):
            await s.place(o)
        clock.advance_to(MONDAY_10 + NS)
        s.quote(RELIANCE, 2600.0, 2601.0, bid_size=4)
        open_ids = {r.client_order_id: r for r in await within(s.broker.open_orders())}
        assert set(open_ids) == {resting.client_order_id, partly.client_order_id}
        assert open_ids[partly.client_order_id].status is S.UPDATED
        assert open_ids[partly.client_order_id].filled_qty == D(4)
        for o in (resting, partly, done):
            status = await within(s.broker.order_status(o))
            assert status is not None
            fills = [f for f in s.sink.fills if f.client_order_id == o.client_order_id]
            assert status.filled_qty == sum((f.qty for f in fills), D(0))
        assert len(await within(s.broker.fills_since(0))) == 2
        later = await within(s.broker.fills_since(MONDAY_10 + NS))
        assert [(f.client_order_id, f.qty) for f in later] == [(partly.client_order_id, D(4))]
        balances = await s.balances()
        # bought 2 at 2501, sold 4 at 2600; 5 x 2400 held for the resting buy, 2 RELIANCE for the sell
        assert balances["INR"] == (D(1_000_000) - D(5_002) + D(10_400) - D(12_000), D(12_000))
        assert balances["RELIANCE"] == (D(50) + D(2) - D(6), D(2))
        positions = {p.instrument: p.qty for p in await within(s.broker.positions())}
        assert positions == {RELIANCE.id: D(48)}


async def test_finished_orders_and_fills_beyond_what_the_broker_keeps_leave_memory() -> None:
    clock = SimulatedClock(MONDAY_10)
    async with Setup(clock) as s:
        s.broker.keep_finished = 8
        s.broker._fills = deque(maxlen=4)
        s.quote(RELIANCE, 2499.0, 2501.0, bid_size=1e9, ask_size=1e9)
        resting = s.order(RELIANCE, BUY, "1", "2000")
        await s.place(resting)
        filled = [s.order(RELIANCE, BUY, "1") for _ in range(20)]
        for order in filled:
            await s.place(order)
        assert len(s.sink.fills) == 20  # every fill was told to the engine as it happened
        assert len(s.broker.matching.orders) == 8 + 1  # the last 8 finished and the one still working
        assert await within(s.broker.order_status(filled[0])) is None  # forgotten
        latest = await within(s.broker.order_status(filled[-1]))
        assert latest is not None and latest.status is S.COMPLETED and latest.filled_qty == D(1)
        assert [f.client_order_id for f in await within(s.broker.fills_since(0))] == [
            o.client_order_id for o in filled[-4:]
        ]
        assert [r.client_order_id for r in await within(s.broker.open_orders())] == [resting.client_order_id]

