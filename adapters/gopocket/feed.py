"""GoPocket order updates and market data: the order-book poller, the webhook receiver, the socket.

- `OrderPoller`: the order book on a budget - every `fast_s` for `fast_window_s` after a placement,
  modify or cancel, every `slow_s` while an order is working, every `idle_s` otherwise - and the
  trade book only when some order's filled quantity moved. It is always on: the backstop of the
  pushes below, and the only source when neither is available.
- `WebhookReceiver`: the order-update webhook, served on aiohttp. GoPocket documents no signature
  for its deliveries, so the receiver authenticates what it can: the callback URL carries a secret
  `key` (ours, made per run) and a delivery without it is refused 401; a delivery with an
  Authorization header must carry `Bearer <one of our sessions>` (401 otherwise). A delivery is a
  Noren order-update dict; one told again (same order, status, filled quantity, fill id and report
  type) is answered 200 and not applied again. A body that is not one is counted, logged, 400.
- `NorenFeed`: the Noren-dialect socket protocols.md describes: connect `{"t":"c", uid, actid,
  susertoken: sha256(sha256(session)), source}` -> `{"t":"ck","s":"OK"}`, heartbeat `{"t":"h"}`,
  touchline `{"t":"t","k":"NSE|3045#..."}` -> tk / tf (Quote, and Trade when the volume grew),
  depth `{"t":"d"}` -> dk / df (BookSnapshot, five levels), order updates `{"t":"o"}` -> om. A tf or
  df carries only what changed: merged into the last values per token.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import aiohttp
import msgspec
import structlog
from aiohttp import web

from adapters.gopocket import schemas as w
from adapters.gopocket.auth import GopocketSession
from adapters.gopocket.client import GopocketClient
from adapters.gopocket.parsing import is_open_word
from engine.clock import Clock
from engine.data.bus import Bus
from engine.events import BookSnapshot, Quote, Trade
from engine.venue.poller import Poller
from engine.venue.websocket import Frame, WebSocketFeed

log = structlog.get_logger("tickbus.gopocket.feed")
OrderChanges = tuple[list[w.OrderRow], list[w.TradeRow]]
SEEN_DELIVERIES = 20_000  # delivery keys remembered (a redelivery after that is caught by the sync core)


class OrderPoller:
    """The order book (and, when fills moved, the trade book) on a request budget."""

    def __init__(
        self, name: str, client: GopocketClient, deliver: Callable[[OrderChanges], None], *,
        fast_s: float, slow_s: float, idle_s: float, fast_window_s: float,
    ) -> None:
        self.client = client
        self.fast_s, self.slow_s, self.idle_s, self.fast_window_s = fast_s, slow_s, idle_s, fast_window_s
        self.book_requests = 0
        self.trade_requests = 0
        self._fast_until = 0.0
        self._filled: dict[str, str] = {}  # order -> fillQuantity when the trade book was last read
        self._trades: list[w.TradeRow] = []
        self._fresh = True
        self.poller: Poller[OrderChanges] = Poller(name, self._fetch, deliver, interval_s=idle_s, jitter=0.0)

    def start(self) -> None:
        self.poller.start()

    async def stop(self) -> None:
        await self.poller.stop()

    def kick(self) -> None:
        """An order moved (placed, cancelled, pushed news): poll fast for a while."""
        self._fast_until = time.monotonic() + self.fast_window_s
        self.poller.set_interval(self.fast_s)

    async def poll_now(self) -> OrderChanges:
        return await self._fetch()

    async def _fetch(self) -> OrderChanges:
        rows = await self.client.order_book()
        self.book_requests += 1
        moved = [r for r in rows if w.dec(r.fillQuantity) and self._filled.get(r.brokerOrderId) != str(r.fillQuantity)]
        if moved or self._fresh:
            self._trades = await self.client.trade_book()
            self.trade_requests += 1
            self._fresh = False
            traded: dict[str, Any] = {}
            for t in self._trades:
                traded[t.brokerOrderId] = traded.get(t.brokerOrderId, 0) + (w.dec(t.fillQuantity) or 0)
            for r in moved:  # a trade book behind the order book is read again next time
                if traded.get(r.brokerOrderId, 0) >= (w.dec(r.fillQuantity) or 0):
                    self._filled[r.brokerOrderId] = str(r.fillQuantity)
        working = any(is_open_word(r.orderStatus) for r in rows)
        if time.monotonic() < self._fast_until:
            self.poller.set_interval(self.fast_s)
        else:
            self.poller.set_interval(self.slow_s if working else self.idle_s)
        return rows, self._trades


def delivery_key(msg: w.NorenOrder) -> tuple[str, ...]:
    """What makes one delivery the same as another."""
    return (msg.norenordno, msg.status.upper(), msg.fillshares, msg.flid, msg.reporttype.upper(), msg.qty, msg.prc)


class WebhookReceiver:
    """The order-update webhook's receiver (see the module docstring)."""

    def __init__(
        self, venue: str, *, key: str, auth: GopocketSession, on_update: Callable[[w.NorenOrder], None],
        host: str = "127.0.0.1", port: int = 0, path: str = "/gopocket/order-updates",
    ) -> None:
        self.venue = venue
        self.key = key
        self.auth = auth
        self.on_update = on_update
        self.host, self.port, self.path = host, port, path
        self.url = ""
        self.received = 0
        self.applied = 0
        self.duplicates = 0
        self.refused = 0
        self.malformed = 0
        self._seen: OrderedDict[tuple[str, ...], None] = OrderedDict()
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post(self.path, self.handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.url = f"http://{host}:{port}{self.path}"
        return self.url

    def callback_url(self, public_url: str = "") -> str:
        return f"{public_url or self.url}?key={self.key}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _authentic(self, request: web.Request) -> bool:
        if not hmac.compare_digest(request.query.get("key", "").encode(), self.key.encode()):
            return False
        header = request.headers.get("Authorization")
        if header is None:
            return True
        scheme, _, token = header.partition(" ")
        token = token.split()[-1] if token.split() else ""
        return scheme.lower() == "bearer" and any(hmac.compare_digest(token.encode(), s.encode()) for s in self.auth.known)

    async def handle(self, request: web.Request) -> web.Response:
        self.received += 1
        if not self._authentic(request):
            self.refused += 1
            log.warning("webhook delivery refused: not authenticated", venue=self.venue, remote=request.remote)
            return web.json_response({"status": "Not_Ok", "message": "unauthorized"}, status=401)
        body = await request.read()
        try:
            msg = w.decode_noren_order(body)
            if not msg.norenordno or not msg.status:
                raise msgspec.ValidationError("no norenordno or status")
        except msgspec.MsgspecError as exc:
            self.malformed += 1
            log.warning("malformed webhook delivery dropped", venue=self.venue, error=str(exc), malformed=self.malformed)
            return web.json_response({"status": "Not_Ok", "message": "malformed"}, status=400)
        key = delivery_key(msg)
        if key in self._seen:
            self.duplicates += 1
            return web.json_response({"status": "Ok", "message": "duplicate"})
        self.on_update(msg)
        self._seen[key] = None
        if len(self._seen) > SEEN_DELIVERIES:
            self._seen.popitem(last=False)
        self.applied += 1
        return web.json_response({"status": "Ok", "message": "received"})


def susertoken(session: str) -> str:
    """The socket's hashed session: sha256(sha256(userSession)) in hex [T AB-oa]."""
    return hashlib.sha256(hashlib.sha256(session.encode()).hexdigest().encode()).hexdigest()


class NorenFeed(WebSocketFeed):
    """Subscriptions are keys "t:NSE|3045" (touchline), "d:NSE|3045" (depth) and "o:" (orders)."""

    def __init__(
        self, venue: str, url: str, *, bus: Bus, clock: Clock, auth: GopocketSession, user_id: str,
        on_order: Callable[[w.NorenOrder], None] | None = None, on_opened: Callable[[], None] | None = None,
        app_heartbeat_s: float = 30.0, **kw: Any,
    ) -> None:
        super().__init__(venue, url, bus=bus, clock=clock, **kw)
        self.auth = auth
        self.user_id = user_id.upper()
        self.on_order = on_order
        self.on_opened = on_opened  # each (re)open: the sync core catches up what the socket missed
        self.app_heartbeat_s = app_heartbeat_s
        self.ids: dict[str, str] = {}  # "NSE|3045" -> instrument id
        self.refusals: list[str] = []
        self.unknown = 0
        self._last: dict[str, dict[str, str]] = {}  # token -> last touchline/depth values
        self._volume: dict[str, float] = {}
        self._token: str | None = None
        self._beat: asyncio.Task[None] | None = None

    async def watch(self, tokens: dict[str, str], *, depth: bool = False) -> None:
        self.ids.update(tokens)
        keys = [f"t:{t}" for t in tokens] + ([f"d:{t}" for t in tokens] if depth else [])
        await self.subscribe(*keys)

    async def on_open(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._token = await self.auth.token()
        connect = {"t": "c", "uid": self.user_id, "actid": self.user_id, "susertoken": susertoken(self._token), "source": "API"}
        await ws.send_str(w.encode(connect).decode())
        if self._beat is None or self._beat.done():
            self._beat = asyncio.get_running_loop().create_task(self._heartbeat(ws))
        await super().on_open(ws)

    async def _heartbeat(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        with contextlib.suppress(Exception):
            while not ws.closed:
                await asyncio.sleep(self.app_heartbeat_s)
                await ws.send_str('{"t":"h","k":""}')

    async def stop(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
            with contextlib.suppress(BaseException):
                await self._beat
        await super().stop()

    def subscribe_frames(self, keys: list[str]) -> list[Frame]:
        return _frames(keys, {"t": "t", "d": "d", "o": "o"}, self.user_id)

    def unsubscribe_frames(self, keys: list[str]) -> list[Frame]:
        return _frames(keys, {"t": "u", "d": "ud", "o": "uo"}, self.user_id)

    # --- frames (synchronous) -----------------------------------------------------------------

    def on_message(self, data: str | bytes) -> None:
        frame = w.decode_frame(data)
        kind = frame.t
        if kind in ("tk", "tf"):
            self._touchline(frame, data)
        elif kind in ("dk", "df"):
            self._depth(frame, data)
        elif kind == "om":
            if self.on_order is not None:
                self.on_order(w.decode_noren_order(data))
        elif kind == "ck" and frame.s.upper() == "OK":
            if self.on_opened is not None:
                self.on_opened()
        elif kind == "ck":
            self.refusals.append(frame.emsg or frame.s)
            log.warning("socket session refused", venue=self.venue, reason=frame.emsg or frame.s)
            if self._token is not None:
                self.auth.rejected(self._token)

    def _merged(self, frame: w.NorenFrame, data: str | bytes) -> tuple[str, dict[str, str]] | None:
        token = f"{frame.e}|{frame.tk}"
        if token not in self.ids:
            self.unknown += 1
            return None
        raw = msgspec.json.decode(data)
        last = self._last.setdefault(token, {})
        last.update({k: str(v) for k, v in raw.items() if v not in ("", None)})
        return token, last

    def _touchline(self, frame: w.NorenFrame, data: str | bytes) -> None:
        merged = self._merged(frame, data)
        if merged is None:
            return
        token, v = merged
        iid = self.ids[token]
        self.mark(f"t:{token}")
        now = self.clock.now_ns()
        last = w.num(v.get("lp")) or None
        publish = self.bus.publish
        publish(Quote(iid, w.num(v.get("bp1")), w.num(v.get("sp1")), w.num(v.get("bq1")), w.num(v.get("sq1")), now, now, last), iid)
        volume = w.num(v.get("v"))
        before = self._volume.get(token)
        self._volume[token] = volume
        if last and before is not None and volume > before:
            publish(Trade(iid, last, w.num(v.get("ltq")) or volume - before, now, now), iid)

    def _depth(self, frame: w.NorenFrame, data: str | bytes) -> None:
        merged = self._merged(frame, data)
        if merged is None:
            return
        token, v = merged
        iid = self.ids[token]
        self.mark(f"d:{token}")
        bids = tuple((w.num(v.get(f"bp{i}")), w.num(v.get(f"bq{i}"))) for i in range(1, 6) if v.get(f"bp{i}"))
        asks = tuple((w.num(v.get(f"sp{i}")), w.num(v.get(f"sq{i}"))) for i in range(1, 6) if v.get(f"sp{i}"))
        now = self.clock.now_ns()
        self.bus.publish(BookSnapshot(iid, bids, asks, now, now), iid)


def _frames(keys: list[str], kinds: dict[str, str], user_id: str) -> list[Frame]:
    by_kind: dict[str, list[str]] = {}
    for key in keys:
        kind, _, token = key.partition(":")
        by_kind.setdefault(kind, []).append(token)
    frames: list[Frame] = []
    for kind, tokens in by_kind.items():
        if kind == "o":
            frames.append(w.encode({"t": kinds[kind], "actid": user_id}).decode())
        else:
            frames.append(w.encode({"t": kinds[kind], "k": "#".join(tokens)}).decode())
    return frames
