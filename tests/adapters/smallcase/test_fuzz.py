"""smallcase's wire boundary under generated and mutated answers (issue 14 point 1).

The always-on sample of bench/venue_fuzz.py's campaign: transaction status and order details as a
poll reads them, postbacks through the endpoint, holdings and the create answer, from the
emulator's valid payloads with values replaced by hypothesis, pushed through the real decode +
parse path (the transaction book applying each view). Each either succeeds, is refused and
counted (a postback answered 4xx), or raises only the project's typed venue error. Then one
regression test per defect the campaign found.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.smallcase import schemas as w
from bench.venue_fuzz import Target, inputs, outcome, smallcase_targets
from engine.errors import VenueError

STATE = Path("/nonexistent/tickbus-fuzz")  # nothing is written: the venue never connects


def _targets(tmp: Path = STATE) -> dict[str, Target]:
    targets, _ = smallcase_targets(tmp)
    return {t.name: t for t in targets}


NAMES = sorted(_targets())


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
async def test_every_answer_parses_or_raises_the_venue_error(data: st.DataObject) -> None:
    target = _targets()[data.draw(st.sampled_from(NAMES), label="entry point")]  # fresh state each example
    payload = data.draw(inputs(target), label="input")
    raised = outcome(target, payload)
    assert raised is None, f"{target.name}: {raised!r} for {payload!r:.400}"


# --- regressions: each of these raised something other than the venue error before -------------


@pytest.fixture
def smallcase() -> dict[str, Target]:
    return _targets()


TXID = "TRX_0123456789abcdef"


def _details(**changes: Any) -> bytes:
    order = {"tradingsymbol": "RELIANCE", "transactionType": "BUY", "quantity": 10, "filledQuantity": 10,
             "averagePrice": 1290.5, "status": "COMPLETE"}
    order.update(changes)
    batch = {"batchId": "B-1", "status": "COMPLETED", "transactionId": TXID, "orders": [order]}
    return msgspec.json.encode({"success": True, "errors": None, "data": {"orderBatches": [batch], "transactionId": TXID}})


@pytest.mark.parametrize("changes", [
    {"filledQuantity": "NaN"},  # decimal.InvalidOperation summing the batches (leg_states)
    {"averagePrice": "Infinity"},  # ... pricing the fill (Book._fill)
    {"filledQuantity": "1e999999999"},  # decimal.Overflow
    {"averagePrice": -1290.5},  # a fill at a negative price
])
def test_order_details_with_an_odd_number_raise_the_venue_error(smallcase: dict[str, Target], changes: dict[str, Any]) -> None:
    with pytest.raises(VenueError):
        smallcase["order details, COMPLETED (poll view)"].run(_details(**changes))


def test_a_transaction_with_a_malformed_creation_time_raises_the_venue_error(smallcase: dict[str, Target]) -> None:
    status = {"success": True, "errors": None, "data": {"transactionId": TXID, "transactionDetails": {
        "status": "PROCESSING", "intent": "TRANSACTION", "createdAt": "1e18"}}}
    with pytest.raises(VenueError):  # an adopted transaction's deadline read it: ValueError from iso_ns
        smallcase["transaction status (poll view)"].run(msgspec.json.encode(status))


def test_a_postback_with_a_non_finite_number_is_refused_as_invalid_not_an_internal_error(smallcase: dict[str, Target]) -> None:
    target = smallcase["postback (endpoint)"]
    payload = msgspec.json.decode(_details(averagePrice="Infinity"))["data"]
    body = msgspec.json.encode({**payload, "status": "COMPLETED", "timestamp": "2026-12-01T04:00:05.000Z"})
    before = target.counters()
    target.run(body)  # answered 400 invalid_payload and counted (it was a 500 from InvalidOperation)
    assert target.counters() == before + 1


def test_valid_details_still_decode() -> None:
    details = w.decode_order_details(_details())
    assert details.data is not None and details.data.orderBatches[0].orders[0].filledQuantity == 10
