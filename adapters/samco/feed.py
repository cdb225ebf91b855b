"""Samco market data and order updates: the streaming socket, the quote poller, the order poller.

Streaming (`SamcoFeed`): `x-session-token` on the upgrade; subscriptions are newline-terminated
frames, one per streaming type ("quote": LTP, touch and volume -> `Quote`, plus a `Trade` when the
day's volume grew; "quote2": five levels a side -> `BookSnapshot`). Ticks are strings and arrive flat
or wrapped in {"response": ...}, one or several newline-separated in a message; both shapes decode in
one pass. Reconnects resubscribe (the base class); a 401 on the upgrade kills the token so the next
attempt logs in again; the staleness watchdog reconnects a socket gone quiet. A frame refusing a
request ({"response": {"status": "Failure", "statusMessage": ...}}) is logged and kept in `refusals`.

Samco has no order stream: `OrderPoller` reads the order book on a budget - every `fast_s` for
`fast_window_s` after a placement, modify or cancel, every `slow_s` while any order is working,
every `idle_s` otherwise - and the trade book only when some order's filled quantity moved.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from math import isfinite
from typing import Any

import aiohttp
import msgspec
import structlog

from adapters.samco import schemas as w
from adapters.samco import ticks
from adapters.samco.auth import SamcoSession
from adapters.samco.client import SamcoClient
from adapters.samco.parsing import OPEN_WORDS
from engine.clock import Clock
from engine.data.bus import Bus
from engine.events import ZERO, BookSnapshot, Quote, Trade
from engine.venue.poller import Poller
from engine.venue.values import NotANumber
from engine.venue.websocket import Frame, WebSocketFeed

log = structlog.get_logger("tickbus.samco.feed")
QUOTE, DEPTH = "quote", "quote2"
DEPTH_ALIASES = frozenset({"quote2", "marketdata", "marketdepth"})
_TS_CACHE = 256  # distinct lttUTC strings remembered (ticks of one second share one)


class SamcoFeed(WebSocketFeed):
    """Subscriptions are keys "quote:<token>" and "quote2:<token>" (token like "2885_NSE")."""

    def __init__(self, venue: str, url: str, *, bus: Bus, clock: Clock, auth: SamcoSession, **kw: Any) -> None:
        super().__init__(venue, url, bus=bus, clock=clock, **kw)
        self.auth = auth
        self.ids: dict[str, str] = {}  # token -> instrument id
        self.unknown = 0
        self.refusals: list[str] = []  # the streamer's reasons for refusing a request
        self._volume: dict[str, float] = {}
        self._ts: dict[str, int] = {}
        self._keys: dict[tuple[str, str], str] = {}  # (kind, token) -> subscription key
        self._token: str | None = None  # the session token of the last upgrade
        self._decode = ticks.decode_tick

    async def watch(self, tokens: dict[str, str], *, depth: bool = False) -> None:
        """Stream quotes (and depth) of `tokens` ({token: instrument id})."""
        self.ids.update(tokens)
        keys = [f"{QUOTE}:{t}" for t in tokens]
        if depth:
            keys += [f"{DEPTH}:{t}" for t in tokens]
        await self.subscribe(*keys)

    # --- the connection -----------------------------------------------------------------------

    async def headers(self) -> dict[str, str]:
        self._token = await self.auth.token()
        return {"x-session-token": self._token}

    def on_connect_error(self, exc: BaseException) -> None:
        # a refused upgrade (401) means the session token is dead: renew before the retry
        if isinstance(exc, aiohttp.WSServerHandshakeError) and exc.status == 401 and self._token is not None:
            self.auth.rejected(self._token)

    def subscribe_frames(self, keys: list[str]) -> list[Frame]:
        return _frames("subscribe", keys)

    def unsubscribe_frames(self, keys: list[str]) -> list[Frame]:
        return _frames("unsubscribe", keys)

    # --- ticks (synchronous, no await per frame) ----------------------------------------------

    def on_message(self, data: str | bytes) -> None:
        """One tick, or several a line each: a line that does not decode, or holds a number that is
        not a finite one, is counted, logged and dropped (`malformed`) without the lines after it."""
        newline: Any = "\n" if isinstance(data, str) else b"\n"
        cut = data.find(newline)
        lines = (data,) if cut < 0 or not data[cut:].strip() else data.split(newline)  # one tick, or several
        for line in lines:
            if line.strip():
                try:
                    self._on_frame(self._decode(line))
                except (msgspec.MsgspecError, NotANumber) as exc:
                    self._malformed(line, exc)

    def _on_frame(self, frame: ticks.TickFrame) -> None:
        response = frame.response
        if response is not None and response.status.lower() == "failure":
            self.refusals.append(response.statusMessage)
            log.warning("stream request refused", venue=self.venue, streaming_type=response.streaming_type, reason=response.statusMessage)
            return
        if response is not None and response.data is not None:
            tick, kind = response.data, response.streaming_type or response.data.streaming_type
        else:
            tick, kind = frame, frame.streaming_type
        if not kind:
            kind = DEPTH if tick.bidValues or tick.askValues else QUOTE
        if kind.lower() in DEPTH_ALIASES:
            self._on_depth(tick)
        else:
            self._on_quote(tick)

    def _known(self, token: str, kind: str) -> str | None:
        """The instrument id of a subscribed token (its subscription marked alive), else None."""
        iid = self.ids.get(token)
        if iid is None:
            self.unknown += 1
            return None
        key = self._keys.get((kind, token))
        if key is None:
            key = self._keys[(kind, token)] = f"{kind}:{token}"
        self.mark(key)
        return iid

    def _on_quote(self, t: ticks.Tick) -> None:
        token = t.sym or t.symbol
        iid = self._known(token, QUOTE)
        if iid is None:
            return
        now = self.clock.now_ns()
        ts = self._tick_ns(t.lttUTC, now)
        try:  # the common case: plain numbers, converted inline
            bid, ask, bid_size, ask_size = float(t.bPr), float(t.aPr), float(t.bSz), float(t.aSz)
            last = float(t.ltp) if t.ltp else None
        except ValueError:  # "", "--", "1,234" (num raises for what is no number at all)
            num = w.num
            bid, ask, bid_size, ask_size = num(t.bPr), num(t.aPr), num(t.bSz), num(t.aSz)
            last = num(t.ltp) or None
        if not isfinite(bid + ask + bid_size + ask_size + (last or 0.0)):  # "nan", "inf", "1e999"
            raise NotANumber("a quote tick with a number that is not a finite one")
        publish = self.bus.publish
        publish(Quote(iid, bid, ask, bid_size, ask_size, ts, now, last), iid)
        if t.vol and last:
            volume = w.num(t.vol)
            before = self._volume.get(token)
            self._volume[token] = volume
            if before is not None and volume > before:
                size = w.num(t.ltq) or volume - before
                publish(Trade(iid, last, size, ts, now), iid)

    def _on_depth(self, t: ticks.Tick) -> None:
        iid = self._known(t.symbol or t.sym, DEPTH)
        if iid is None:
            return
        num = w.num
        bids = tuple((num(v.price), num(v.qty)) for v in t.bidValues)
        asks = tuple((num(v.price), num(v.qty)) for v in t.askValues)
        now = self.clock.now_ns()
        self.bus.publish(BookSnapshot(iid, bids, asks, now, now), iid)

    def _tick_ns(self, text: str, default: int) -> int:
        if not text:
            return default
        ts = self._ts.get(text)
        if ts is None:
            if len(self._ts) >= _TS_CACHE:
                self._ts.clear()
            ts = self._ts[text] = w.utc_tick_ns(text) or 0
        return ts or default


def _frames(request_type: str, keys: Iterable[str]) -> list[Frame]:
    """One frame per streaming type naming every symbol of `keys`."""
    by_type: dict[str, list[str]] = {}
    for key in keys:
        kind, _, token = key.partition(":")
        by_type.setdefault(kind, []).append(token)
    return [ticks.stream_frame(kind, request_type, tokens) for kind, tokens in by_type.items()]


# --- REST polling ------------------------------------------------------------------------------


class QuotePoller:
    """Quotes by polling GET /quote/getQuote (when streaming is off)."""

    def __init__(self, venue: str, client: SamcoClient, *, bus: Bus, clock: Clock, interval_s: float) -> None:
        self.venue = venue
        self.client = client
        self.bus = bus
        self.clock = clock
        self.interval_s = interval_s
        self.pollers: dict[str, Poller[w.QuoteReply]] = {}

    def watch(self, iid: str, symbol_name: str, exchange: str) -> None:
        if iid in self.pollers:
            return
        poller: Poller[w.QuoteReply] = Poller(
            f"{self.venue}:quote:{iid}",
            lambda: self.client.quote(symbol_name, exchange),
            lambda q: self._publish(iid, q),
            interval_s=self.interval_s,
        )
        self.pollers[iid] = poller
        poller.start()

    async def stop(self) -> None:
        for poller in self.pollers.values():
            await poller.stop()
        self.pollers.clear()

    def _publish(self, iid: str, q: w.QuoteReply) -> None:
        bid = q.bestBids[0] if q.bestBids else w.Level()
        ask = q.bestAsks[0] if q.bestAsks else w.Level()
        now = self.clock.now_ns()
        last = w.num(q.lastTradedPrice) or None
        self.bus.publish(Quote(iid, w.num(bid.price), w.num(ask.price), w.num(bid.quantity), w.num(ask.quantity), now, now, last), iid)


OrderChanges = tuple[list[w.OrderRow], list[w.TradeRow]]



class OrderPoller:
    """The order book (and, when fills moved, the trade book) on a request budget."""

    def __init__(
        self,
        name: str,
        client: SamcoClient,
        deliver: Callable[[OrderChanges], None],
        *,
        fast_s: float,
        slow_s: float,
        idle_s: float,
        fast_window_s: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.fast_s, self.slow_s, self.idle_s = fast_s, slow_s, idle_s
        self.fast_window_s = fast_window_s
        self.book_requests = 0
        self.trade_requests = 0
        self._monotonic = monotonic
        self._fast_until = 0.0
        self._filled: dict[str, str] = {}  # order number -> filledQuantity when trades were last read
        self._trades: list[w.TradeRow] = []
        self._fresh = True
        self.poller: Poller[OrderChanges] = Poller(name, self._fetch, deliver, interval_s=idle_s, jitter=0.0)

    @property
    def interval_s(self) -> float:
        return self.poller.interval_s

    def start(self) -> None:
        self.poller.start()

    async def stop(self) -> None:
        await self.poller.stop()

    def kick(self) -> None:
        """An order was placed, modified or cancelled: poll fast for a while."""
        self._fast_until = self._monotonic() + self.fast_window_s
        self.poller.set_interval(self.fast_s)

    async def poll_now(self) -> OrderChanges:
        """One poll outside the schedule (tests, reconciliation)."""
        return await self._fetch()

    async def _fetch(self) -> OrderChanges:
        rows = await self.client.order_book()
        self.book_requests += 1
        moved = [r for r in rows if r.filledQuantity and self._filled.get(r.orderNumber) != r.filledQuantity]
        if moved or self._fresh:
            self._trades = await self.client.trade_book()
            self.trade_requests += 1
            self._fresh = False
            traded: dict[str, Decimal] = {}
            for t in self._trades:
                traded[t.orderNumber] = traded.get(t.orderNumber, ZERO) + (t.size or ZERO)
            for r in moved:
                # a trade book behind the order book is read again on the next poll
                if traded.get(r.orderNumber, ZERO) >= (w.dec(r.filledQuantity) or ZERO):
                    self._filled[r.orderNumber] = r.filledQuantity
        working = any(r.word.lower() in OPEN_WORDS for r in rows)
        if self._monotonic() < self._fast_until:
            interval = self.fast_s
        else:
            interval = self.slow_s if working else self.idle_s
        self.poller.set_interval(interval)
        return rows, self._trades

