"""The fixture's server is real: JetStream answers and de-duplicates by message id."""

from __future__ import annotations

import nats

from tests.bridge.nats_server import NatsServer
from tests.helpers import bounded


async def test_the_fixture_serves_jetstream_that_deduplicates_by_message_id(natsd: NatsServer) -> None:
    nc = await bounded(_connect(natsd.url))
    try:
        js = nc.jetstream()
        await bounded(js.add_stream(name="T", subjects=["t.>"]))
        first = await bounded(js.publish("t.x", b"1", headers={"Nats-Msg-Id": "a"}))
        again = await bounded(js.publish("t.x", b"1", headers={"Nats-Msg-Id": "a"}))
        other = await bounded(js.publish("t.x", b"2", headers={"Nats-Msg-Id": "b"}))
        assert not first.duplicate and again.duplicate and again.seq == first.seq
        assert other.seq == first.seq + 1
        assert (await bounded(js.stream_info("T"))).state.messages == 2
    finally:
        await nc.close()


async def _connect(url: str) -> nats.NATS:
    return await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)
