"""The virtual account: holds for working orders, fees, settlement, releases; never below zero."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.simulation.account import Account, FeeSchedule
from engine.events import Instrument, OrderType, Side

D = Decimal
BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET
BTC = Instrument(
    id="sim:BTC-KRW", venue="sim", symbol="BTC-KRW", base="BTC", quote="KRW",
    exchange="SIM", tick_size=D(1000), lot_size=D("0.0001"),
)


def balances(account: Account) -> dict[str, tuple[Decimal, Decimal]]:
    return {a: (account.free.get(a, D(0)), account.locked.get(a, D(0))) for a in account.assets()}


# --- fees -----------------------------------------------------------------------------------------


def test_fee_is_the_bps_share_of_the_notional_but_at_least_the_minimum() -> None:
    fees = FeeSchedule(bps=D(10), minimum=D(5))
    assert fees.fee(D(10_000)) == D(10)  # 10 bps of 10000
    assert fees.fee(D(1_000)) == D(5)  # 1 < 5: the minimum
    assert fees.fee(D("12345.67")) == D("12.34567")  # exact, not rounded
    assert fees.fee(D(0)) == D(0)


def test_maker_fills_use_maker_bps_and_taker_fills_use_bps() -> None:
    fees = FeeSchedule(bps=D(10), maker_bps=D(2))
    assert fees.fee(D(10_000), "taker") == D(10)
    assert fees.fee(D(10_000), "maker") == D(2)
    assert FeeSchedule(bps=D(10)).fee(D(10_000), "maker") == D(10)  # no maker rate: same as taker


def test_fee_schedule_from_config_refuses_unknown_fields() -> None:
    fees = msgspec.convert({"bps": "7.5", "minimum": "20"}, FeeSchedule)
    assert fees.bps == D("7.5") and fees.minimum == D(20)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"bps": 1, "bsp": 2}, FeeSchedule)


# --- holds ----------------------------------------------------------------------------------------


def test_buy_hold_sets_aside_the_quote_amount_plus_the_fee_estimate() -> None:
    account = Account({"KRW": D(1_000_000)}, fees=FeeSchedule(bps=D(10)))
    assert account.hold("o1", BTC, BUY, LIMIT, D("0.01"), D(50_000_000)) is None
    # 0.01 * 50,000,000 = 500,000; fee 10 bps = 500
    assert balances(account) == {"KRW": (D(499_500), D(500_500))}


def test_buy_hold_uses_the_higher_of_maker_and_taker_rates() -> None:
    account = Account({"KRW": D(1_000_000)}, fees=FeeSchedule(bps=D(2), maker_bps=D(10)))
    account.hold("o1", BTC, BUY, LIMIT, D("0.01"), D(50_000_000))
    assert account.locked["KRW"] == D(500_500)


def test_market_buy_hold_values_the_order_at_the_reference_plus_the_buffer() -> None:
    account = Account({"KRW": D(1_000_000)}, fees=FeeSchedule(bps=D(10)), market_buffer=D("0.05"))
    assert account.hold("o1", BTC, BUY, MARKET, D("0.01"), None, reference=D(50_000_000)) is None
    assert account.locked["KRW"] == D(525_000) + D("525")


def test_market_buy_without_a_reference_price_cannot_be_valued() -> None:
    account = Account({"KRW": D(1_000_000)})
    assert account.hold("o1", BTC, BUY, MARKET, D(1), None) == "no price to value the order"
    assert balances(account) == {"KRW": (D(1_000_000), D(0))}


def test_notional_buy_hold_covers_the_notional_and_its_fee() -> None:
    account = Account({"KRW": D(1_000_000)}, fees=FeeSchedule(bps=D(10)))
    assert account.hold("o1", BTC, BUY, MARKET, D(0), None, notional=D(1_000_000)) is not None
    assert account.hold("o1", BTC, BUY, MARKET, D(0), None, notional=D(999_000)) is None
    assert account.locked["KRW"] == D(999_000) + D("999")
    account.settle("o1", BTC, BUY, D("0.01998"), D(50_000_000), "taker")  # spends the notional
    assert account.free["KRW"] >= 0 and account.locked["KRW"] == 0


def test_sell_hold_sets_aside_the_base_quantity() -> None:
    account = Account({"BTC": D("0.5")}, fees=FeeSchedule(bps=D(10), minimum=D(1)))
    assert account.hold("o1", BTC, SELL, LIMIT, D("0.2"), D(50_000_000)) is None
    assert balances(account) == {"BTC": (D("0.3"), D("0.2"))}


def test_hold_beyond_the_free_balance_is_refused_with_the_reason_and_changes_nothing() -> None:
    account = Account({"KRW": D(500_000), "BTC": D("0.1")}, fees=FeeSchedule(bps=D(10)))
    reason = account.hold("o1", BTC, BUY, LIMIT, D("0.01"), D(50_000_000))
    assert reason is not None and reason.startswith("insufficient funds: 500500") and "KRW needed, 500000 available" in reason
    assert account.hold("o2", BTC, SELL, LIMIT, D("0.2"), D(1)) == "insufficient funds: 0.2 BTC needed, 0.1 available"
    assert balances(account) == {"BTC": (D("0.1"), D(0)), "KRW": (D(500_000), D(0))}


@pytest.mark.parametrize("qty", [D(0), D(-1)])
def test_hold_of_a_quantity_that_is_not_positive_is_refused(qty: Decimal) -> None:
    account = Account({"KRW": D(1_000), "BTC": D(1)})
    assert account.hold("b", BTC, BUY, LIMIT, qty, D(10)) == "quantity must be positive"
    assert account.hold("s", BTC, SELL, LIMIT, qty, D(10)) == "quantity must be positive"
    assert balances(account) == {"BTC": (D(1), D(0)), "KRW": (D(1_000), D(0))}


def test_short_selling_account_holds_nothing_for_a_sell() -> None:
    account = Account({"KRW": D(0)}, allow_short=True)
    assert account.hold("s", BTC, SELL, LIMIT, D(1), D(100)) is None
    account.settle("s", BTC, SELL, D(1), D(100), "taker")
    assert account.free["BTC"] == D(-1) and account.free["KRW"] == D(100)


# --- settlement -----------------------------------------------------------------------------------


def test_settling_a_buy_moves_exact_amounts_and_returns_the_fee() -> None:
    account = Account({"KRW": D(1_000_000)}, fees=FeeSchedule(bps=D(10)))
    account.hold("o1", BTC, BUY, LIMIT, D("0.01"), D(50_000_000))
    fee = account.settle("o1", BTC, BUY, D("0.004"), D(49_999_000), "taker")
    assert fee == D("199.996")
    assert balances(account) == {
        "BTC": (D("0.004"), D(0)),
        "KRW": (D(499_500), D(500_500) - D(199_996) - D("199.996")),
    }
    assert account.fees_paid == {"KRW": D("199.996")}


def test_settling_a_sell_moves_exact_amounts() -> None:
    account = Account({"BTC": D("0.5"), "KRW": D(0)}, fees=FeeSchedule(bps=D(10)))
    account.hold("o1", BTC, SELL, LIMIT, D("0.2"), D(50_000_000))
    fee = account.settle("o1", BTC, SELL, D("0.2"), D(50_001_000), "maker")
    assert fee == D("10000.2")
    assert balances(account) == {"BTC": (D("0.3"), D(0)), "KRW": (D(10_000_200) - D("10000.2"), D(0))}


def test_release_returns_what_the_order_did_not_spend() -> None:
    account = Account({"KRW": D(1_000_000)}, fees=FeeSchedule(bps=D(10)))
    account.hold("o1", BTC, BUY, LIMIT, D("0.01"), D(50_000_000))
    account.settle("o1", BTC, BUY, D("0.004"), D(48_000_000), "taker")  # filled below its limit
    account.release("o1")
    spent = D(192_000) + D(192)
    assert balances(account) == {"BTC": (D("0.004"), D(0)), "KRW": (D(1_000_000) - spent, D(0))}
    account.release("o1")  # twice is harmless
    assert account.total("KRW") == D(1_000_000) - spent


def test_the_minimum_fee_is_charged_once_per_order_not_per_partial_fill() -> None:
    account = Account({"KRW": D(10_000)}, fees=FeeSchedule(bps=D(10), minimum=D(20)))
    account.hold("o1", BTC, BUY, LIMIT, D(10), D(100))  # 1000 + fee max(1, 20) = 1020
    fees = [account.settle("o1", BTC, BUY, D(1), D(100), "maker") for _ in range(10)]
    assert fees == [D(20)] + [D(0)] * 9  # bps fees (0.1 a fill) never reach the minimum
    assert account.locked["KRW"] == D(0) and account.free["KRW"] == D(10_000) - D(1_020)
    big = Account({"KRW": D(10_000_000)}, fees=FeeSchedule(bps=D(10), minimum=D(20)))
    big.hold("o2", BTC, BUY, LIMIT, D(3), D(10_000))  # fee max(30, 20) = 30
    paid = [big.settle("o2", BTC, BUY, D(1), D(10_000), "taker") for _ in range(3)]
    assert paid == [D(20), D(0), D(10)] and sum(paid) == D(30)  # max(sum of bps fees, minimum)
    assert big.locked["KRW"] == D(0)


def test_partial_fills_of_a_buy_never_spend_more_than_its_hold() -> None:
    account = Account({"KRW": D(1_020)}, fees=FeeSchedule(bps=D(10), minimum=D(20)))
    assert account.hold("o1", BTC, BUY, LIMIT, D(10), D(100)) is None
    for _ in range(10):
        account.settle("o1", BTC, BUY, D(1), D(100), "taker")
    assert account.free["KRW"] == D(0) and account.locked["KRW"] == D(0) and account.free["BTC"] == D(10)


def test_a_sell_is_never_charged_more_than_it_can_pay() -> None:
    account = Account({"BTC": D(1), "KRW": D(0)}, fees=FeeSchedule(minimum=D(20)))
    account.hold("s", BTC, SELL, LIMIT, D(1), D(5))
    fee = account.settle("s", BTC, SELL, D(1), D(5), "taker")  # proceeds 5 < minimum fee 20
    assert fee == D(5) and account.free["KRW"] == D(0) and account.fees_paid["KRW"] == D(5)


# --- re-holding (modify) --------------------------------------------------------------------------


def test_rehold_resizes_the_hold_and_keeps_the_fees_already_paid_toward_the_minimum() -> None:
    account = Account({"KRW": D(10_000)}, fees=FeeSchedule(minimum=D(20)))
    account.hold("o1", BTC, BUY, LIMIT, D(10), D(100))
    assert account.locked["KRW"] == D(1_020)
    account.settle("o1", BTC, BUY, D(4), D(100), "maker")  # pays the minimum once
    assert account.locked["KRW"] == D(600)
    assert account.rehold("o1", BTC, BUY, LIMIT, D(6), D(110)) is None  # 6 more at 110, no new minimum
    assert account.locked["KRW"] == D(660)
    assert account.settle("o1", BTC, BUY, D(6), D(110), "maker") == D(0)
    assert account.locked["KRW"] == D(0) and account.free["KRW"] == D(10_000) - D(1_080)


def test_rehold_that_needs_more_than_is_free_is_refused_and_the_old_hold_stays() -> None:
    account = Account({"KRW": D(1_500)})
    account.hold("o1", BTC, BUY, LIMIT, D(10), D(100))
    reason = account.rehold("o1", BTC, BUY, LIMIT, D(10), D(200))
    assert reason == "insufficient funds: 1000 KRW more needed, 500 available"
    assert balances(account) == {"KRW": (D(500), D(1_000))}
    assert account.rehold("o1", BTC, BUY, LIMIT, D(5), D(100)) is None  # smaller: frees the difference
    assert balances(account) == {"KRW": (D(1_000), D(500))}


# --- the invariant --------------------------------------------------------------------------------

_prices = st.integers(min_value=1, max_value=2_000).map(lambda n: D(n) / 10)
_qtys = st.integers(min_value=1, max_value=50).map(D)
_op = st.one_of(
    st.tuples(st.just("hold"), st.sampled_from([BUY, SELL]), _qtys, _prices),
    st.tuples(st.just("fill"), st.integers(0, 30), st.integers(1, 100), st.sampled_from(["maker", "taker"])),
    st.tuples(st.just("release"), st.integers(0, 30)),
    st.tuples(st.just("rehold"), st.integers(0, 30), _qtys, _prices),
)


@settings(max_examples=300, deadline=None)
@given(
    ops=st.lists(_op, max_size=60),
    bps=st.integers(0, 100).map(D),
    maker_bps=st.one_of(st.none(), st.integers(0, 100).map(D)),
    minimum=st.integers(0, 30).map(D),
)
def test_balances_never_go_negative_and_every_unit_is_accounted_for(
    ops: list[tuple], bps: Decimal, maker_bps: Decimal | None, minimum: Decimal  # type: ignore[type-arg]
) -> None:
    start_krw, start_btc = D(5_000), D(60)
    account = Account({"KRW": start_krw, "BTC": start_btc}, fees=FeeSchedule(bps=bps, maker_bps=maker_bps, minimum=minimum))
    # order id -> [side, qty, limit, filled, bps fees, fees charged]
    orders: dict[str, list] = {}  # type: ignore[type-arg]
    bought = sold = buy_cost = sell_proceeds = D(0)
    for n, op in enumerate(ops):
        live = sorted(k for k, v in orders.items() if v is not None)
        if op[0] == "hold":
            _, side, qty, price = op
            if account.hold(f"o{n}", BTC, side, LIMIT, qty, price) is None:
                orders[f"o{n}"] = [side, qty, price, D(0), D(0), D(0)]
        elif op[0] == "fill" and live:
            oid = live[op[1] % len(live)]
            side, qty, price, filled, bps_fees, charged = orders[oid]
            part = max(D(1), (qty - filled) * op[2] // 100)
            # a buy fills at or below its limit, a sell at or above it (as the matching engine does)
            fill_px = price - D("0.1") * (op[2] % 3) if side is BUY else price + D("0.1") * (op[2] % 3)
            fill_px = max(fill_px, D("0.1"))
            fee = account.settle(oid, BTC, side, part, fill_px, op[3])
            bps_fees += part * fill_px * account.fees.rate(op[3]) / 10_000
            if side is BUY:
                # a buy always pays max(its bps fees, minimum) in total: its hold covered it
                assert charged + fee == max(bps_fees, minimum)
                bought += part
                buy_cost += part * fill_px + fee
            else:
                assert D(0) <= fee and charged + fee <= max(bps_fees, minimum)
                sold += part
                sell_proceeds += part * fill_px - fee
            filled += part
            orders[oid] = [side, qty, price, filled, bps_fees, charged + fee]
            if filled == qty:
                account.release(oid)
                orders[oid] = None
        elif op[0] == "release" and live:
            oid = live[op[1] % len(live)]
            account.release(oid)
            orders[oid] = None
        elif op[0] == "rehold" and live:
            oid = live[op[1] % len(live)]
            side, qty, price, filled, *rest = orders[oid]
            new_qty = filled + op[2]
            if account.rehold(oid, BTC, side, LIMIT, op[2], op[3]) is None:
                orders[oid] = [side, new_qty, op[3], filled, *rest]
        for asset in account.assets():
            assert account.free.get(asset, D(0)) >= 0, (asset, account.free)
            assert account.locked.get(asset, D(0)) >= 0, (asset, account.locked)
    for oid in [k for k, v in orders.items() if v is not None]:
        account.release(oid)
    assert all(v == 0 for v in account.locked.values())
    assert account.total("BTC") == start_btc + bought - sold
    assert account.total("KRW") == start_krw - buy_cost + sell_proceeds
