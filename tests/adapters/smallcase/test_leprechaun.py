"""Leprechaun mode: each scenario test token, through the real adapter and order manager, ends the
orders of a transaction the way the scenario says."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adapters.smallcase.emulator import SmallcaseEmulator
from adapters.smallcase.emulator_gateway import ACCOUNTS, Scenario
from engine.events import OrderStatus

from .conftest import bounded, venue_on

S = OrderStatus


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("leprechaun", [(S.COMPLETED, None, 3), (S.COMPLETED, None, 2)]),
        ("leprechaun-low-funds", [(S.REJECTED, "marginsExceeded", 0), (S.COMPLETED, None, 2)]),
        ("leprechaun-order-failure", [(S.REJECTED, "adapterError", 0), (S.REJECTED, "adapterError", 0)]),
        ("leprechaun-partial-fill", [(S.CANCELLED, "transaction completed with 1 of 3 filled", 1), (S.CANCELLED, "transaction completed with 1 of 2 filled", 1)]),
        ("leprechaun-user-cancelled", [(S.CANCELLED, "user_cancelled", 0), (S.CANCELLED, "user_cancelled", 0)]),
        ("leprechaun-consent-denied", [(S.REJECTED, "consent_denied", 0), (S.REJECTED, "consent_denied", 0)]),
    ],
)
async def test_each_scenario_token_ends_the_orders_as_documented(
    emulator: SmallcaseEmulator, token: str, expected: list[tuple[OrderStatus, str | None, int]]
) -> None:
    async with venue_on(emulator, leprechaun=True, auth_id=token) as h:
        orders = [h.buy("RELIANCE", 3), h.buy("ITC", 2)]  # RELIANCE is beyond 1,000 INR, ITC is not
        done = await bounded(h.settled(*orders))

    assert [(o.status, o.reason, o.filled_qty) for o in done] == [(s, r, Decimal(q)) for s, r, q in expected]
    assert sum(f.qty for f in h.fills) == sum(o.filled_qty for o in done)
    (tx,) = emulator.gateway.transactions.values()
    assert tx.auth_id == token


def test_every_scenario_has_a_leprechaun_token() -> None:
    scenarios = {spec.scenario for spec in ACCOUNTS.values() if spec.leprechaun}
    assert scenarios == set(Scenario)


async def test_selling_what_the_account_does_not_hold_is_rejected_with_check_holdings(emulator: SmallcaseEmulator) -> None:
    async with venue_on(emulator, leprechaun=True, auth_id="leprechaun") as h:
        (done,) = await bounded(h.settled(h.sell("SBIN", 5)))
    assert (done.status, done.reason) == (S.REJECTED, "checkHoldings")


async def test_a_guest_in_leprechaun_mode_buys_then_sells_from_the_virtual_account(emulator: SmallcaseEmulator) -> None:
    async with venue_on(emulator, leprechaun=True) as h:
        (bought,) = await bounded(h.settled(h.buy("INFY", 4)))
        (sold,) = await bounded(h.settled(h.sell("INFY", 4)))
    assert (bought.status, sold.status) == (S.COMPLETED, S.COMPLETED)
    assert [tx.auth_id for tx in emulator.gateway.transactions.values()] == [emulator.gateway.guest_token] * 2
    assert h.manager.portfolio.position("sim:NSE:INFY").qty == 0
