"""Leprechaun mode: each scenario test token, through the real adapter and order manager, ends the
orders of a transaction the way the scenario says; against a gateway that is not emulated,
leprechaun is only the SDK's flag and the user is sent to the link like any other."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import structlog

from adapters.smallcase.emulator import SmallcaseEmulator
from adapters.smallcase.emulator.market import ACCOUNTS
from engine.events import OrderStatus

from .conftest import bounded, until, venue_on

S = OrderStatus
README = Path(__file__).resolve().parents[3] / "README.md"
# Every leprechaun test token of the emulator, and what it does to a buy of RELIANCE 3 and ITC 2.
SCENARIOS: dict[str, list[tuple[OrderStatus, str | None, int]]] = {
    "leprechaun": [(S.COMPLETED, None, 3), (S.COMPLETED, None, 2)],
    "leprechaun-low-funds": [(S.REJECTED, "marginsExceeded", 0), (S.COMPLETED, None, 2)],
    "leprechaun-order-failure": [(S.REJECTED, "adapterError", 0), (S.REJECTED, "adapterError", 0)],
    "leprechaun-partial-fill": [(S.CANCELLED, "transaction completed with 1 of 3 filled", 1), (S.CANCELLED, "transaction completed with 1 of 2 filled", 1)],
    "leprechaun-user-cancelled": [(S.CANCELLED, "user_cancelled", 0), (S.CANCELLED, "user_cancelled", 0)],
    "leprechaun-consent-denied": [(S.REJECTED, "consent_denied", 0), (S.REJECTED, "consent_denied", 0)],
}


@pytest.mark.parametrize(("token", "expected"), list(SCENARIOS.items()), ids=list(SCENARIOS))
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


def test_every_leprechaun_token_of_the_emulator_is_exercised_above_and_in_the_readme() -> None:
    tokens = {token for token, spec in ACCOUNTS.items() if spec.leprechaun}
    readme = README.read_text()
    assert tokens == SCENARIOS.keys()
    assert [t for t in sorted(tokens) if f"`{t}`" not in readme] == []


async def test_against_a_gateway_that_is_not_emulated_leprechaun_mode_logs_the_link_and_waits(real_emulator: SmallcaseEmulator) -> None:
    """`leprechaun: true` is smallcase's SDK flag: the user still goes through the SDK."""
    async with venue_on(real_emulator, emulator=False, leprechaun=True, auth_id="leprechaun") as h:
        with structlog.testing.capture_logs() as logs:
            order = h.buy("SBIN", 1)
            await until(lambda: h.order(order).venue_order_id is not None or not h.order(order).is_open)
        assert h.venue.poller is not None
        rounds = h.venue.poller.poller.requests + 3
        await until(lambda: h.venue.poller is not None and h.venue.poller.poller.requests >= rounds)
        status = h.order(order).status

    (tx,) = real_emulator.gateway.transactions.values()
    (line,) = [r for r in logs if r["event"] == "complete this transaction in smallcase's SDK"]
    assert (line["log_level"], line["transaction_id"], line["leprechaun"]) == ("warning", tx.id, True)
    assert line["link"] == f"{real_emulator.url}/sdk/{real_emulator.gateway_name}/{tx.id}"
    assert real_emulator.requests["GET /sdk/{gateway}/{transactionId}"] == 0  # nobody opened it for the user
    assert (status, tx.status) == (S.SUBMITTED, "INITIALIZED")


async def test_emulated_leprechaun_mode_logs_the_transaction_and_its_link_too(emulator: SmallcaseEmulator) -> None:
    async with venue_on(emulator, auth_id="leprechaun") as h:
        with structlog.testing.capture_logs() as logs:
            await bounded(h.settled(h.buy("SBIN", 1)))

    (tx,) = emulator.gateway.transactions.values()
    (line,) = [r for r in logs if r["event"] == "transaction created; the emulated leprechaun user completes it"]
    assert (line["transaction_id"], line["link"]) == (tx.id, f"{emulator.url}/sdk/{emulator.gateway_name}/{tx.id}")
    assert emulator.requests["GET /sdk/{gateway}/{transactionId}"] == 1


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
