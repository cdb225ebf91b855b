"""Postbacks: the emulator sends them to the receiver the adapter serves, which applies good ones
like polled statuses and refuses unauthenticated (401) and replayed (409) ones."""

from __future__ import annotations

from collections.abc import AsyncIterator

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


def payload(timestamp: str = "2026-11-20T03:50:00.000001+00:00", status: str = "COMPLETED") -> bytes:
    return w.encode(w.Postback(transactionId="TRX_1", status=status, timestamp=timestamp))


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


async def test_a_signed_postback_is_accepted_once_and_its_replay_refused(received: tuple[PostbackReceiver, list[w.Postback]]) -> None:
    receiver, got = received
    body = field_body(payload())

    assert await bounded(post(receiver.url, body)) == 200
    assert await bounded(post(receiver.url, body)) == 409

    assert [p.transactionId for p in got] == ["TRX_1"] and receiver.refused == {409: 1}


async def test_an_older_postback_for_a_transaction_is_refused_as_a_replay(received: tuple[PostbackReceiver, list[w.Postback]]) -> None:
    receiver, got = received
    newer = field_body(payload(timestamp="2026-11-20T03:51:00+00:00"))
    older = field_body(payload(timestamp="2026-11-20T03:50:00+00:00", status="USED"))

    assert await bounded(post(receiver.url, newer)) == 200
    assert await bounded(post(receiver.url, older)) == 409
    assert [p.status for p in got] == ["COMPLETED"]


@pytest.mark.parametrize(
    "body",
    [
        field_body(payload(), secret="someone-else"),
        w.encode({"data": payload().decode(), "checksum": ""}),
        w.encode({"data": payload().decode()}),
        payload(),
        b"not json",
    ],
    ids=["signed with another secret", "empty checksum", "no checksum", "bare payload", "garbage"],
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
        assert await bounded(post(url, body, {CHECKSUM_HEADER: checksum(API_SECRET, body)})) == 200
    finally:
        await bounded(receiver.stop())
    assert len(got) == 1


async def test_a_replay_of_what_the_emulator_sent_is_refused_by_the_adapter(emulator: SmallcaseEmulator) -> None:
    async with venue_on(emulator, postback={"enabled": True}) as h:
        await bounded(h.settled(h.buy("RELIANCE", 1)))
        await until(lambda: len(emulator.postbacks) == 1)
        sent = emulator.postbacks[0]
        status = await bounded(post(sent.url, sent.body, sent.headers))

    assert (sent.status, status) == (200, 409)
