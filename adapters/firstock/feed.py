"""Firstock market data and order updates: the V2 socket, and the quote poller when streaming is off.

The socket (`FirstockFeed`) is `<ws_url>?userId=&jKey=&source=developer-api`; its first frame must
say "Authentication successful" (a refusal kills the jKey, so the next attempt logs in again).
Subscriptions are `{"action": "subscribe", "tokens": "NSE:2885|NSE:26000"}`, re-sent after every
reconnect (the base class), with the staleness watchdog and aiohttp's ping as the heartbeat.

Frames, told apart as the public client does: one with `norenordno` is an order update (handed to
`on_order`, the adapter's, which goes to the sync core); `brkname` a position update (counted: the
position book is read over REST); `status` + `message` a control frame (logged); anything else a
market tick, flat or wrapped as {"NSE:2885": {...}}. Tick prices are integers in paise: a Quote
(float, as market data is) of the best level each side and the last price, and a Trade when the
day's volume grew. A frame that decodes to nothing known is counted and dropped (the base class).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import aiohttp
import structlog

from adapters.firstock import schemas as w
from adapters.firstock import ticks
from adapters.firstock.auth import FirstockSession
from adapters.firstock.client import FirstockClient
from engine.clock import Clock
from engine.data.bus import Bus
from engine.events import Quote, Trade
from engine.venue.poller import Poller
from engine.venue.websocket import Frame, WebSocketFeed

log = structlog.get_logger("tickbus.firstock.feed")
NS = 1_000_000_000
AUTH_OK = "Authentication successful"
SOURCE = "developer-api"
ORIGIN = "https://firstock.in"


class HandshakeRefused(ConnectionError):
    """The socket's first frame was not "Authentication successful"."""


class FirstockFeed(WebSocketFeed):
    """Subscriptions are keys "EXCHANGE:token" ("NSE:2885")."""

    def __init__(
        self,
        venue: str,
        url: str,
        *,
        bus: Bus,
        clock: Clock,
        auth: FirstockSession,
        on_order: Callable[[ticks.OrderUpdate], None],
        on_opened: Callable[[], None],
        **kw: Any,
    ) -> None:
        super().__init__(venue, url, bus=bus, clock=clock, **kw)
        self.auth = auth
        self.on_order = on_order
        self.on_opened = on_opened
        self.ids: dict[str, str] = {}  # "NSE:2885" -> instrument id
        self.unknown = 0
        self.positions = 0
        self.controls: list[str] = []  # messages of control frames after the handshake
        self.refusals = 0  # handshakes refused
        self._volume: dict[str, int] = {}
        self._jkey = ""

    async def watch(self, tokens: dict[str, str]) -> None:
        """Stream quotes of `tokens` ({"NSE:2885": instrument id})."""
        self.ids.update(tokens)
        await self.subscribe(*tokens)

    # --- the connection -----------------------------------------------------------------------

    async def _connection(self) -> str:
        # the URL carries the jKey: fetched (logging in if need be) before each connect
        self._jkey = await self.auth.token()
        return await super()._connection()

    def connect_url(self) -> str:
        query = urlencode({"userId": self.auth.user_id, "jKey": self._jkey, "source": SOURCE})
        return f"{self.url}?{query}"

    async def headers(self) -> dict[str, str]:
        return {"origin": ORIGIN, "cache-control": "no-cache", "pragma": "no-cache"}

    async def on_open(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        msg = await ws.receive(timeout=self.connect_timeout_s)
        text = msg.data if isinstance(msg.data, str) else ""
        if AUTH_OK not in text:
            self.refusals += 1
            if "Maximum sessions limit" not in text:
                self.auth.rejected(self._jkey)  # the jKey is dead: the next attempt logs in again
            raise HandshakeRefused(f"socket handshake refused: {text[:200] or msg.type.name}")
        await self.send_subscriptions()
        self.on_opened()

    def subscribe_frames(self, keys: list[str]) -> list[Frame]:
        return [w.encode(ticks.StreamRequest("subscribe", "|".join(keys))).decode()]

    def unsubscribe_frames(self, keys: list[str]) -> list[Frame]:
        return [w.encode(ticks.StreamRequest("unsubscribe", "|".join(keys))).decode()]

    # --- frames (synchronous, no await per frame) ---------------------------------------------

    def on_message(self, data: str | bytes) -> None:
        raw = data if isinstance(data, bytes) else data.encode()
        if b'"norenordno"' in raw:
            self.on_order(ticks.decode_order_update(raw))
            return
        tick = ticks.decode_tick(raw)
        if tick.c_symbol:
            self._on_tick(tick, f"{tick.c_exch_seg}:{tick.c_symbol}")
            return
        if b'"brkname"' in raw:
            self.positions += 1
            return
        if b'"message"' in raw and b'"status"' in raw:
            control = ticks.decode_control(raw)
            self.controls.append(control.message)
            log.info("socket control frame", venue=self.venue, status=control.status, message=control.message[:200])
            return
        if b'"gamma"' in raw:
            return  # option greeks: not subscribed by this adapter
        wrapped = ticks.decode_wrapped_ticks(raw)
        if not wrapped:
            raise ValueError("an empty frame")
        for key, inner in wrapped.items():
            self._on_tick(inner, f"{inner.c_exch_seg}:{inner.c_symbol}" if inner.c_symbol else key)

    def _on_tick(self, t: ticks.Tick, key: str) -> None:
        iid = self.ids.get(key)
        if iid is None:
            self.unknown += 1
            return
        self.mark(key)
        now = self.clock.now_ns()
        ts = t.i_feed_time * NS if t.i_feed_time else now
        bid = t.best_buy[0] if t.best_buy else ticks.Level()
        ask = t.best_sell[0] if t.best_sell else ticks.Level()
        last = t.i_last_traded_price / 100 if t.i_last_traded_price else None
        publish = self.bus.publish
        publish(Quote(iid, bid.price / 100, ask.price / 100, float(bid.quantity), float(ask.quantity), ts, now, last), iid)
        volume = t.i_volume_traded_today
        if volume and last:
            before = self._volume.get(key)
            self._volume[key] = volume
            if before is not None and volume > before:
                size = float(t.i_last_trade_quantity or volume - before)
                trade_ts = t.i_last_trade_time * NS if t.i_last_trade_time else ts
                publish(Trade(iid, last, size, trade_ts, now), iid)


class QuotePoller:
    """Quotes by polling getQuote (when streaming is off)."""

    def __init__(self, venue: str, client: FirstockClient, *, bus: Bus, clock: Clock, interval_s: float) -> None:
        self.venue = venue
        self.client = client
        self.bus = bus
        self.clock = clock
        self.interval_s = interval_s
        self.pollers: dict[str, Poller[w.QuoteData]] = {}

    def watch(self, iid: str, exchange: str, trading_symbol: str) -> None:
        if iid in self.pollers:
            return
        poller: Poller[w.QuoteData] = Poller(
            f"{self.venue}:quote:{iid}", lambda: self.client.quote(exchange, trading_symbol),
            lambda q: self._publish(iid, q), interval_s=self.interval_s,
        )
        self.pollers[iid] = poller
        poller.start()

    async def stop(self) -> None:
        for poller in self.pollers.values():
            await poller.stop()
        self.pollers.clear()

    def _publish(self, iid: str, q: w.QuoteData) -> None:
        now = self.clock.now_ns()
        last = float(q.lastTradedPrice or 0) or None
        self.bus.publish(Quote(iid, float(q.bestBuyPrice1 or 0), float(q.bestSellPrice1 or 0),
                               float(q.bestBuyQuantity1 or 0), float(q.bestSellQuantity1 or 0), now, now, last), iid)
