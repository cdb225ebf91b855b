"""Postbacks: the emulator sends them to the receiver the adapter serves, which applies good ones
like polled statuses, answers an exact repeat 200 without applying it twice, and refuses forged
(401), malformed (400) and stale (409) ones; malformed input never gets a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from adapters.smallcase import schemas as w
from adapters.smallcase.auth import CHECKSUM_HEADER, checksum
from adapters.smallcase.emulator import SmallcaseEmulator
from adapters.smallcase.feed import PostbackReceiver
from engine.events import OrderStatus

from .conftest import OPEN_NS, SEED_SECRET, bounded, started, until, venue_on

API_SECRET = "postback-test-api-secret"


@pytest.fixture
async def received() -> AsyncIterator[tuple[PostbackReceiver, list[w.Postback]]]:
    got: list[w.Postback] = []
    receiver = PostbackReceiver(API_SECRET, got.append)
    await bounded(receiver.start())
    yield receiver, got
    await bounded(receiver.stop())


async def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> int:
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers or {}) as resp:
        return resp.status


def field_body(payload: bytes, secret: str = API_SECRET) -> bytes:
    return w.encode(w.SignedPostback(data=payload.decode(), checksum=checksum(secret, payload)))


def stamp(minutes: float = 0.0, *, naive: bool = False) -> str:
    """An ISO timestamp `minutes` from now (wall clock: the receiver's clock by default)."""
    at = datetime.now(UTC) + timedelta(minutes=minutes)
    return (at.replace(tzinfo=None) if naive else at).isoformat()


def payload(timestamp: str | None = None, status: str = "COMPLETED", transaction_id: str = "TRX_1") -> bytes:
    ts = stamp() if timestamp is None else timestamp
    return w.encode(w.Postback(transactionId=transaction_id, status=status, timestamp=ts or None))


@pytest.mark.parametrize("scheme", ["field", "header"])
async def test_postbacks_from_the_emulator_complete_the_orders_without_a_second_poll(scheme: str) -> None:
    emulator = await started(SmallcaseEmulator(
        seed=9, secret=SEED_SECRET, leprechaun=True, start_ns=OPEN_NS, complete_delay_s=0.3, postback_scheme=scheme,  # type: ignore[arg-type]
    ))
    try:
        async with venue_on(emulator, poll_interval_s=600, idle_poll_interval_s=600, postback={"enabled": True, "scheme": scheme}) as h:
            assert h.venue.receiver is not None and emulator.postback_url == h.venue.receiver.url
            done = await bounded(h.settled(h.buy("SBIN", 3), h.buy("TCS", 1)))
            await until(lambda: len(emulator.postbacks) == 1)
    finally:
        await bounded(emulator.stop())

    assert [o.status for o in done] == [OrderStatus.COMPLETED] * 2
    assert emulator.requests["GET /v1/{gateway}/engine/transactiondetails"] == 1  # polled once, at creation
    assert emulator.requests["GET /v1/{gateway}/engine/orderdetails"] == 0  # the batches came by postback
    assert h.venue.receiver.accepted == 1 and emulator.postbacks[0].status == 200


async def test_an_exact_repeat_is_answered_200_and_not_applied_again(received: tuple[PostbackReceiver, list[w.Postback]]) -> None:
    """Postbacks are at-least-once: the gateway sends again when our answer is lost."""
    receiver, got = received
    body = field_body(payload())

    assert await bounded(post(receiver.url, body)) == 200
    assert await bounded(post(receiver.url, body)) == 200

    assert [p.transactionId for p in got] == ["TRX_1"] and receiver.duplicates == 1 and receiver.refused == {}


async def test_an_older_postback_for_a_transaction_is_refused_as_a_replay(received: tuple[PostbackReceiver, list[w.Postback]]) -> None:
    receiver, got = received
    newer = field_body(payload(timestamp=stamp(-1)))
    older = field_body(payload(timestamp=stamp(-2), status="USED"))

    assert await bounded(post(receiver.url, newer)) == 200
    assert await bounded(post(receiver.url, older)) == 409
    assert await bounded(post(receiver.url, newer)) == 200  # the newest one again: a repeat, not a replay
    assert [p.status for p in got] == ["COMPLETED"] and receiver.refused == {409: 1}


async def test_a_postback_that_failed_to_apply_is_applied_when_the_gateway_retries() -> None:
    """Nothing is remembered of a postback answered 500: the retry (the same bytes) is applied."""
    got: list[w.Postback] = []
    attempts: list[int] = []

    def flaky(p: w.Postback) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("the journal was busy")
        got.append(p)

    receiver = PostbackReceiver(API_SECRET, flaky)
    url = await bounded(receiver.start())
    try:
        body = field_body(payload())
        assert await bounded(post(url, body)) == 500
        assert await bounded(post(url, body)) == 200
        assert await bounded(post(url, body)) == 200  # and now it is a repeat
    finally:
        await bounded(receiver.stop())
    assert len(got) == 1 and len(attempts) == 2 and receiver.duplicates == 1


@pytest.mark.parametrize(
    ("timestamp", "status"),
    [("", 400), ("yesterday", 400), (stamp(-11), 409)],
    ids=["no timestamp", "not a timestamp", "older than ten minutes"],
)
async def test_a_postback_needs_a_recent_timestamp(received: tuple[PostbackReceiver, list[w.Postback]], timestamp: str, status: int) -> None:
    receiver, got = received
    assert await bounded(post(receiver.url, field_body(payload(timestamp=timestamp)))) == status
    assert got == []


async def test_a_naive_timestamp_is_read_as_utc(received: tuple[PostbackReceiver, list[w.Postback]]) -> None:
    receiver, got = received
    assert await bounded(post(receiver.url, field_body(payload(timestamp=stamp(-2))))) == 200

    assert await bounded(post(receiver.url, field_body(payload(timestamp=stamp(-3, naive=True), status="USED")))) == 409
    assert await bounded(post(receiver.url, field_body(payload(timestamp=stamp(-1, naive=True), status="ERRORED")))) == 200
    assert [p.status for p in got] == ["COMPLETED", "ERRORED"]


@pytest.mark.parametrize(
    "body",
    [
        field_body(payload(), secret="someone-else"),
        w.encode({"data": payload().decode(), "checksum": ""}),
        w.encode({"data": payload().decode()}),
        w.encode({"data": payload().decode(), "checksum": "é" * 64}),
        b'{"data": "{}", "checksum": "\\u00e9\\u4e2d"}',
        b'{"data": "\\ud800", "checksum": "00"}',
        payload(),
        b"not json",
        b"\xff\xfe{}",
    ],
    ids=["signed with another secret", "empty checksum", "no checksum", "non-ASCII checksum", "escaped non-ASCII checksum",
         "lone surrogate", "bare payload", "garbage", "not UTF-8"],
)
async def test_an_unauthenticated_postback_is_refused_and_not_applied(received: tuple[PostbackReceiver, list[w.Postback]], body: bytes) -> None:
    receiver, got = received

    assert await bounded(post(receiver.url, body)) == 401
    assert got == [] and receiver.accepted == 0


async def test_the_header_scheme_checks_the_raw_body_against_its_header() -> None:
    got: list[w.Postback] = []
    receiver = PostbackReceiver(API_SECRET, got.append, scheme="header")
    url = await bounded(receiver.start())
    try:
        body = payload()
        assert await bounded(post(url, body, {CHECKSUM_HEADER: checksum(API_SECRET, body + b" ")})) == 401
        assert await bounded(post(url, body)) == 401
        assert await bounded(post(url, body, {CHECKSUM_HEADER: "é" * 64})) == 401  # non-ASCII: wrong, not a 500
        assert await bounded(post(url, body, {CHECKSUM_HEADER: checksum(API_SECRET, body)})) == 200
    finally:
        await bounded(receiver.stop())
    assert len(got) == 1


async def test_a_repeat_of_what_the_emulator_sent_is_not_applied_twice_by_the_adapter(emulator: SmallcaseEmulator) -> None:
    async with venue_on(emulator, postback={"enabled": True}) as h:
        order = h.buy("RELIANCE", 1)
        await bounded(h.settled(order))
        await until(lambda: len(emulator.postbacks) == 1)
        sent = emulator.postbacks[0]
        status = await bounded(post(sent.url, sent.body, sent.headers))
        assert h.venue.receiver is not None
        duplicates = h.venue.receiver.duplicates

    assert (sent.status, status, duplicates) == (200, 200, 1)
    assert len(h.fills) == 1 and h.manager.stats.duplicate_fills == 0
