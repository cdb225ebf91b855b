"""GoPocket's order updates and the Noren socket, median and p99 per event:

- a touchline frame (`tf`) -> NorenFeed.on_message -> `Quote` -> a strategy's on_quote, inline and
  queued bus;
- an order-update frame (`om`, a fill of one share) -> NorenFeed -> GopocketVenue.on_push -> the sync
  core -> the order manager (journal in memory) -> the strategy's on_fill, inline bus;
- the same order update as a webhook delivery -> WebhookReceiver.handle (the key and Bearer checks,
  the decode, the dedupe) -> on_push -> ... -> on_fill, two ways: `handle` called directly on a
  request made in memory as aiohttp's server makes one (the body already read in: no HTTP), and a
  real POST over loopback to the receiver `start()` serves (aiohttp client and server on the same
  event loop, so the figure includes the client's send).

Each figure ends at the strategy's on_fill (on_quote); what follows it in the same call (the order's
report through the core and the manager, the webhook's 200) is not in it.

The frames are the emulator's own: `touch_frame` after a step of its market (and of its volume, as
its housekeeping does), `noren_update` for order updates, written as its socket writes them
(`ws.dumps`) and its webhook sender posts them (`schemas.encode`, `Authorization: Bearer <session>`,
the receiver's `?key=`). Prints figures; asserts nothing.

    python bench/gopocket_stream.py [--ticks N] [--fills N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import aiohttp  # noqa: E402
from aiohttp.http import HttpVersion11, RawRequestMessage  # noqa: E402
from aiohttp.streams import StreamReader  # noqa: E402
from aiohttp.web import Request  # noqa: E402
from multidict import CIMultiDict, CIMultiDictProxy  # noqa: E402
from yarl import URL  # noqa: E402

from adapters.gopocket import schemas as w  # noqa: E402
from adapters.gopocket.adapter import GopocketConfig, GopocketVenue  # noqa: E402
from adapters.gopocket.auth import GopocketSession  # noqa: E402
from adapters.gopocket.emulator import GopocketEmulator  # noqa: E402
from adapters.gopocket.emulator.market import OWNER, EmuOrder, noren_update  # noqa: E402
from adapters.gopocket.emulator.ws import dumps  # noqa: E402
from adapters.gopocket.feed import NorenFeed, WebhookReceiver  # noqa: E402
from adapters.india import IST, nse_equity  # noqa: E402
from adapters.simulation.exchange import FillRecord  # noqa: E402
from adapters.simulation.matching import SimOrder  # noqa: E402
from bench._common import delivery_latencies, loop_name, machine, quiet_logs, run_on_best_loop, show  # noqa: E402
from bench.hot_path import Timed, feed_latencies, fill_desk  # noqa: E402
from engine.clock import Clock  # noqa: E402
from engine.data.bus import Bus  # noqa: E402
from engine.events import OrderType, Side, TimeInForce  # noqa: E402
from engine.strategy.base import StrategyHost  # noqa: E402

KEY, TOKEN, IID = "NSE:RELIANCE", "NSE|2885", "gopocket:NSE:RELIANCE"
START = datetime(2026, 11, 20, 9, 20, tzinfo=IST)
NUMBER, PRICE = "26112000000001", Decimal("1290.50")
SESSION, WEBHOOK_KEY = "bench-session-token", "bench-webhook-key"


def touchline_frames(n: int) -> list[str]:
    """`n` touchline frames exactly as the emulator's socket writes them."""
    emu = GopocketEmulator(seed=3, start=START)
    frames = []
    for _ in range(n):
        emu.exchange.step()
        emu._public_volume()  # what its housekeeping does every tick: the `v` field moves
        frames.append(dumps(emu.touch_frame(TOKEN, False) or {}))  # None only before the market's first step
    return frames


def fill_updates(n: int, coid: str) -> list[dict[str, str]]:
    """`n` one-share fills of order NUMBER (tagged `coid`) as the emulator's Noren order updates."""
    emu = GopocketEmulator(seed=3, start=START)
    qty = Decimal(n + 10)
    sim = SimOrder(id="sim-1", instrument=KEY, side=Side.BUY, type=OrderType.LIMIT, qty=qty, price=PRICE,
                   tif=TimeInForce.DAY, owner=OWNER)
    shown = EmuOrder(number=NUMBER, spec=emu.by_key[KEY], side=Side.BUY, type=OrderType.LIMIT, product="CNC",
                     complexity="REGULAR", validity="DAY", qty=qty, price=PRICE, trigger=None,
                     placed_ns=emu.clock.now_ns(), tag=coid, sim=sim)
    updates = []
    for i in range(1, n + 1):
        fill = FillRecord(id=i, order_id=sim.id, owner=OWNER, instrument=KEY, side=Side.BUY, qty=Decimal(1), price=PRICE,
                          fee=Decimal(0), fee_asset="INR", liquidity="maker", ts_ns=emu.clock.now_ns())
        sim.filled += 1  # what the matching engine does; the order stays OPEN, partly filled
        shown.fills.append(fill)
        updates.append(noren_update(shown, emu.user_id, fill))
    return updates


def demo_session() -> GopocketSession:
    """The run's session, one the emulator's webhook deliveries carry (never exchanged: it is given)."""
    auth = GopocketSession("gopocket", lambda checksum: asyncio.sleep(0, SESSION), user_id="GP10001", api_secret="unused",
                           session_token=SESSION)
    auth.known.add(SESSION)
    return auth


def noren_feed(bus: Bus, clock: Clock, venue: GopocketVenue | None = None) -> NorenFeed:
    feed = NorenFeed("gopocket", "ws://unused", bus=bus, clock=clock, auth=demo_session(), user_id="GP10001",
                     on_order=venue.on_push if venue is not None else None, on_opened=lambda: None)
    feed.ids[TOKEN] = IID
    return feed


async def gopocket_desk(n: int) -> tuple[GopocketVenue, Timed, StrategyHost, list[dict[str, str]]]:
    """A GoPocket venue (contract rows as `_load_instruments` keeps them) behind an order manager, a
    working buy of n + 10, and the updates that fill n of it."""
    inst = nse_equity("gopocket", "RELIANCE")
    venue, strategy, host, order = await fill_desk(lambda ctx: GopocketVenue(ctx, GopocketConfig()), inst, NUMBER,
                                                   Decimal(n + 10), PRICE)
    venue._instruments[inst.id] = inst
    venue._by_token[("NSE", "2885")] = inst.id
    venue._coids[NUMBER] = order.client_order_id  # as place() keeps it
    strategy.stamps.clear()
    return venue, strategy, host, fill_updates(n, order.client_order_id)


async def socket_fill_times(n: int) -> tuple[list[float], int]:
    venue, strategy, host, updates = await gopocket_desk(n)
    feed = noren_feed(venue.ctx.bus, venue.ctx.clock, venue)
    frames = [dumps(u) for u in updates]
    out = await delivery_latencies(feed.on_message, frames, strategy.stamps, inline=True)
    await host.stop()
    return out, len(frames[-1])


async def awaited_latencies(send: Callable[[Any], Awaitable[Any]], items: Iterable[Any], stamps: list[int]) -> list[float]:
    """Microseconds from awaiting `send(item)` to the strategy's stamp, sorted, the first tenth left out
    (`items` made one at a time, outside the timing, when it is a generator)."""
    out = []
    for item in items:
        t0 = time.perf_counter_ns()
        await send(item)
        out.append((stamps.pop() - t0) / 1000)
    return sorted(out[len(out) // 10:])


def receiver_of(venue: GopocketVenue) -> WebhookReceiver:
    return WebhookReceiver("gopocket", key=WEBHOOK_KEY, auth=demo_session(), on_update=venue.on_push)


HEADERS = {"Authorization": f"Bearer {SESSION}", "Content-Type": "application/json"}  # the emulator's sender's


class Wire:
    """What a Request asks of its connection, and a StreamReader of its protocol: no socket behind it."""

    connected, _reading_paused = True, False
    ssl_context, peername, sockname = None, ("127.0.0.1", 40000), ("127.0.0.1", 8080)

    def pause_reading(self) -> None: ...

    def resume_reading(self, resume_parser: bool = True) -> None: ...


def delivery_request(receiver: WebhookReceiver, body: bytes) -> Request:
    """The emulator's POST as aiohttp's server hands it to the handler (a RawRequestMessage, a
    StreamReader), its body already read in."""
    loop, wire, path = asyncio.get_running_loop(), Wire(), f"{receiver.path}?key={receiver.key}"
    payload = StreamReader(wire, 2**16, loop=loop)  # type: ignore[arg-type]
    payload.feed_data(body)
    payload.feed_eof()
    headers = CIMultiDictProxy(CIMultiDict(HEADERS))
    raw = tuple((k.encode(), v.encode()) for k, v in HEADERS.items())
    message = RawRequestMessage("POST", path, HttpVersion11, headers, raw, False, None, False, False, URL(path))
    return Request(message, payload, wire, None, None, loop)  # type: ignore[arg-type]


async def webhook_direct_times(n: int) -> tuple[list[float], WebhookReceiver]:
    venue, strategy, host, updates = await gopocket_desk(n)
    receiver = receiver_of(venue)
    requests = (delivery_request(receiver, w.encode(u)) for u in updates)  # each made just before its turn
    out = await awaited_latencies(receiver.handle, requests, strategy.stamps)
    await host.stop()
    return out, receiver


async def webhook_loopback_times(n: int) -> tuple[list[float], WebhookReceiver]:
    venue, strategy, host, updates = await gopocket_desk(n)
    receiver = receiver_of(venue)
    await receiver.start()
    url = receiver.callback_url()
    async with aiohttp.ClientSession() as session:

        async def post(body: bytes) -> None:
            async with session.post(url, data=body, headers=HEADERS) as resp:
                await resp.read()

        out = await awaited_latencies(post, [w.encode(u) for u in updates], strategy.stamps)
    await receiver.stop()
    await host.stop()
    return out, receiver


async def main(n: int, fills: int) -> None:
    frames = touchline_frames(n)
    inline, queued = [await feed_latencies(lambda bus, clock: noren_feed(bus, clock).on_message, frames, inline=mode,
                                           iid=IID, venue="gopocket") for mode in (True, False)]
    socket, om_bytes = await socket_fill_times(fills)
    direct, receiver = await webhook_direct_times(fills)
    loopback, served = await webhook_loopback_times(fills)
    print(f"machine: {machine()}  loop: {loop_name()}  ticks: {n:,}  fills: {fills:,}  touchline frame: "
          f"{len(frames[0])} bytes  om frame: {om_bytes} bytes")
    show("touchline frame -> Quote -> on_quote (inline)", inline)
    show("touchline frame -> Quote -> on_quote (queued)", queued)
    show("om fill frame -> strategy on_fill (inline)", socket)
    show("webhook handle() -> strategy on_fill", direct)
    show("webhook POST, loopback -> strategy on_fill", loopback)
    for label, r in (("direct", receiver), ("loopback", served)):
        print(f"webhook {label}: {r.received} received, {r.applied} applied, {r.duplicates} duplicates, "
              f"{r.refused} refused, {r.malformed} malformed")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for flag, default in (("--ticks", 20_000), ("--fills", 5_000)):
        parser.add_argument(flag, type=int, default=default)
    args = parser.parse_args()
    quiet_logs()
    run_on_best_loop(main(args.ticks, args.fills))
