"""The GOPAX REST client: every endpoint, typed; rate limits as data; errors as typed exceptions.

Limits (GOPAX's, per moving 1 s window): 20 calls per API key (private) and per IP (public); the
order book 1/s; FOK orders and own trades 2/s; a deep trade search 1/s. They are process-wide
shared limiters, so every client, poller and feed of a run draws from the same budget. Reads are
retried on 429/5xx by `RestClient`; `POST /orders` never is: the caller asks by clientOrderId.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import msgspec
from yarl import URL

from adapters.gopax import schemas as w
from adapters.gopax.auth import GopaxAuth
from engine.errors import (
    AuthError,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    RateLimited,
    VenueError,
    VenueUnavailable,
)
from engine.log import fingerprint
from engine.venue.ratelimit import RateLimiter, shared_limiter
from engine.venue.rest import Response, RestClient

T = TypeVar("T")
NS = 1_000_000_000
TRADES_PAGE = 100  # GOPAX's largest page of GET /trades
MAX_PAGES = 50


@dataclass(frozen=True)
class Window:
    """Which trades a page holds: ids above `latestmin` / below `pastmax`, times in seconds."""

    limit: int | None = None
    pastmax: int | None = None
    latestmin: int | None = None
    after_s: int | None = None
    before_s: int | None = None

    def params(self) -> dict[str, int]:
        raw = {"limit": self.limit, "pastmax": self.pastmax, "latestmin": self.latestmin, "after": self.after_s, "before": self.before_s}
        return _present(raw)


# --- rate limits as data -----------------------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    calls: int
    window_s: float
    per: str  # "key" or "ip"


RATE_LIMITS: dict[str, Limit] = {
    "private": Limit(20, 1.0, "key"),
    "public": Limit(20, 1.0, "ip"),
    "book": Limit(1, 1.0, "ip"),
    "fok": Limit(2, 1.0, "key"),
    "own_trades": Limit(2, 1.0, "key"),
    "deep_trades": Limit(1, 1.0, "key"),
}

_PRIVATE_PREFIXES = ("/balances", "/orders", "/trades", "/deposit", "/crypto", "/withdrawals")


def is_private(path: str) -> bool:
    return path.startswith(_PRIVATE_PREFIXES)


def buckets(method: str, path: str, params: Mapping[str, Any] | None = None, tif: str | None = None) -> tuple[str, ...]:
    """The rate limits one request counts against."""
    if not is_private(path):
        if method == "GET" and path.startswith("/trading-pairs/") and path.endswith("/book"):
            return ("public", "book")
        return ("public",)
    if method == "POST" and path == "/orders" and tif == "fok":
        return ("private", "fok")
    if method == "GET" and path == "/trades":
        deep = str((params or {}).get("deepSearch", "")).lower() == "true"
        return ("private", "deep_trades" if deep else "own_trades")
    return ("private",)


# --- errors ------------------------------------------------------------------------------------

_NOT_FOUND = (202, 10069, 10221)
_INVALID = (100, 101, 103, 104, 105, 106, 107, 108, 203, 204, 206, 10058, 10059, 10062, 10166,
            10212, 10222, 10223, 10227, 10358, 10359, 10360, 10361, 10362)
_AUTH = (10004, 10108, 10155, 10229, 10230, 10231, 10232, 10233, 10263, 10264, 10265, 10296, 10297, 10298)
ERROR_CLASSES: dict[int, type[VenueError]] = {
    **{code: OrderNotFound for code in _NOT_FOUND},
    **{code: InvalidOrder for code in _INVALID},
    **{code: AuthError for code in _AUTH},
    201: InsufficientFunds,
    10105: RateLimited,
    10364: RateLimited,
    10052: VenueUnavailable,
    10074: VenueUnavailable,
}
_BY_STATUS: dict[int, type[VenueError]] = {401: AuthError, 403: AuthError, 404: OrderNotFound}


def error_for(venue: str, status: int, body: bytes) -> VenueError | None:
    """The typed exception an answer means (None for a success), carrying GOPAX's code."""
    if 200 <= status < 300:
        return None
    try:
        parsed: w.ErrorBody | None = w.decode_error(body) if body else None
    except msgspec.MsgspecError:
        parsed = None
    code = parsed.errorCode if parsed is not None else None
    text = parsed.errorMessage if parsed is not None and parsed.errorMessage else body[:300].decode("utf-8", "replace")
    if status == 429:
        cls: type[VenueError] = RateLimited
    elif status >= 500:
        cls = VenueUnavailable
    else:
        cls = ERROR_CLASSES.get(code, _BY_STATUS.get(status, VenueError)) if code is not None else _BY_STATUS.get(status, VenueError)
    return cls(venue, text or f"HTTP {status}", code=code, http_status=status)


# --- the client --------------------------------------------------------------------------------


class GopaxClient(RestClient):
    """One aiohttp session to GOPAX (or its emulator); private calls need `auth`."""

    def __init__(
        self,
        venue: str,
        base_url: str,
        *,
        auth: GopaxAuth | None = None,
        session: Any = None,
        timeout_s: float = 10.0,
        retries: int = 3,
    ) -> None:
        super().__init__(venue, base_url, session=session, timeout_s=timeout_s, retries=retries)
        self.auth = auth
        host = URL(self.base_url).authority
        scopes = {"ip": host, "key": f"{fingerprint(auth.api_key)}@{host}" if auth else host}
        self.limiters: dict[str, RateLimiter] = {
            name: shared_limiter(f"gopax:{name}:{scopes[limit.per]}", limit.calls, limit.window_s)
            for name, limit in RATE_LIMITS.items()
        }
        # Nonces must reach the server in the order they were made: one private call at a time.
        self._serial = asyncio.Lock() if auth is not None and auth.scheme == "legacy" else None

    # --- RestClient hooks ---------------------------------------------------------------------

    def limiter_label(self, limiter: RateLimiter) -> str:
        return next((name for name, lim in self.limiters.items() if lim is limiter), limiter.name)

    def sign(self, method: str, path: str, query: str, body: bytes) -> dict[str, str]:
        if self.auth is None or not is_private(path):
            return {}
        return self.auth.headers(method, path, query, body)

    def error_for(self, status: int, body: bytes, headers: Mapping[str, str]) -> VenueError | None:
        return error_for(self.venue, status, body)

    # --- plumbing -----------------------------------------------------------------------------

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: bytes = b"",
        tif: str | None = None,
    ) -> Response:
        """One request through the limiters it counts against (private calls signed)."""
        if is_private(path) and self.auth is None:
            raise AuthError(self.venue, f"{method} {path} needs an api_key and a secret")
        limiters = [self.limiters[name] for name in buckets(method, path, params, tif)]
        if self._serial is not None and is_private(path):
            async with self._serial:
                return await self.request(method, path, params=params, body=body, limiters=limiters)
        return await self.request(method, path, params=params, body=body, limiters=limiters)

    # --- private: account ---------------------------------------------------------------------

    async def balances(self) -> list[w.Balance]:
        return await self.get("/balances", w.decode_balances)

    async def balance(self, asset: str) -> w.Balance:
        return await self.get(f"/balances/{_seg(asset)}", w.decode_balance)

    # --- private: orders ----------------------------------------------------------------------

    async def orders(
        self,
        *,
        include_past: bool = False,
        pair: str | None = None,
        status: str | None = None,
        since_ms: int | None = None,
        limit: int | None = None,
    ) -> list[w.Order]:
        """GET /orders: our open orders (and, `include_past`, those finished in the last 10 minutes).

        `includePast` goes out only when true: the usual call (open orders, polled every second
        without a socket) carries no query string, so its signature is the same in both schemes
        (the current one signs GET /orders' query, the seed's legacy one never signs a query).
        """
        params = {"includePast": True if include_past else None, "tradingPairName": pair, "status": status, "since": since_ms, "limit": limit}
        return await self.get("/orders", w.decode_orders, _present(params))

    async def order(self, order_id: str) -> w.Order:
        return await self.get(f"/orders/{_seg(order_id)}", w.decode_order)

    async def order_by_client_id(self, client_order_id: str) -> w.Order:
        return await self.get(f"/orders/clientOrderId/{_seg(client_order_id)}", w.decode_order)

    async def place(self, request: w.OrderRequest) -> w.Order:
        """POST /orders, once: a 429, a 5xx or a broken connection is raised, never re-sent."""
        response = await self.call("POST", "/orders", body=w.encode(request), tif=request.timeInForce)
        return self.decoded(w.decode_order, response, "/orders")

    async def cancel(self, order_id: str) -> None:
        await self.call("DELETE", f"/orders/{_seg(order_id)}")

    async def cancel_by_client_id(self, client_order_id: str) -> None:
        await self.call("DELETE", f"/orders/clientOrderId/{_seg(client_order_id)}")

    async def trades(self, window: Window = Window(), *, deep_search: bool | None = None, pair: str | None = None) -> list[w.OwnTrade]:
        """Our own fills (`Window`: ids and times bound the page; see the adapter's paging)."""
        params = {**window.params(), **_present({"deepSearch": deep_search, "tradingPairName": pair})}
        return await self.get("/trades", w.decode_own_trades, params)

    # --- public -------------------------------------------------------------------------------

    async def assets(self) -> list[w.Asset]:
        return await self.get("/assets", w.decode_assets)

    async def trading_pairs(self) -> list[w.TradingPair]:
        return await self.get("/trading-pairs", w.decode_pairs)

    async def price_tick_size(self, pair: str) -> list[w.TickSize]:
        return await self.get(f"/trading-pairs/{_seg(pair)}/price-tick-size", w.decode_tick_sizes)

    async def ticker(self, pair: str) -> w.Ticker:
        return await self.get(f"/trading-pairs/{_seg(pair)}/ticker", w.decode_ticker)

    async def tickers(self) -> list[w.TickerRow]:
        return await self.get("/tickers", w.decode_tickers)

    async def book(self, pair: str, level: int | None = None) -> w.Book:
        """1 = best bid and ask, 2 = 50 levels a side, 3 (default) = the whole book; 1 call/s."""
        return await self.get(f"/trading-pairs/{_seg(pair)}/book", w.decode_book, _present({"level": level}))

    async def recent_trades(self, pair: str, window: Window = Window()) -> list[w.PublicTrade]:
        return await self.get(f"/trading-pairs/{_seg(pair)}/trades", w.decode_public_trades, window.params())

    async def stats(self, pair: str) -> w.Stats:
        return await self.get(f"/trading-pairs/{_seg(pair)}/stats", w.decode_stats)

    async def all_stats(self) -> list[w.PairStats]:
        return await self.get("/trading-pairs/stats", w.decode_all_stats)

    async def candles(self, pair: str, *, start_ms: int, end_ms: int, interval_min: int, limit: int | None = None) -> list[w.Candle]:
        """Rows [start ms, low, high, open, close, volume]; intervals 1, 5, 30, 1440 minutes."""
        params = {"start": start_ms, "end": end_ms, "interval": interval_min, "limit": limit}
        return await self.get(f"/trading-pairs/{_seg(pair)}/candles", w.decode_candles, _present(params))

    async def server_time(self) -> int:
        """GET /time: the server's clock in epoch milliseconds."""
        return (await self.get("/time", w.decode_time)).serverTime


def _seg(value: str) -> str:
    return quote(value, safe="")


def _present(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


# --- private state over REST (the venue's answer to the sync core's look) -------------------------------------------------------------------

PrivateChanges = tuple[list[w.OwnTrade], list[w.Order], list[str]]
"""Own trades after the cursor (oldest first), our orders that stopped being open, and the ids of
working orders GOPAX no longer shows (finished more than 10 minutes ago)."""


async def own_trades(client: GopaxClient, *, after_s: int | None = None, latestmin: int | None = None) -> list[w.OwnTrade]:
    """Every own trade after `after_s` / newer than trade id `latestmin`, page by page, oldest first.

    GOPAX pages hold 100 rows; a full page is followed in the direction it is sorted (newest
    first: older ids below `pastmax`; oldest first: newer ids above `latestmin`).
    """
    seen: dict[int, w.OwnTrade] = {}
    pastmax: int | None = None
    for _ in range(MAX_PAGES):
        page = await client.trades(Window(limit=TRADES_PAGE, after_s=after_s, latestmin=latestmin, pastmax=pastmax))
        fresh = [t for t in page if t.id not in seen]
        seen.update((t.id, t) for t in fresh)
        if len(page) < TRADES_PAGE or not fresh:
            break
        if page[0].id > page[-1].id:
            pastmax = page[-1].id
        else:
            latestmin = page[-1].id
    return sorted(seen.values(), key=lambda t: t.id)


async def private_changes(
    client: GopaxClient, after_trade_id: int, since_ns: int, working: Collection[str], *, trades: bool = True
) -> PrivateChanges:
    """One look: own trades after `after_trade_id` (none yet: since `since_ns`), and which of the
    `working` order ids stopped being open; `trades=False` leaves out own trades (a socket that is
    up pushes them)."""
    if not trades:
        found: list[w.OwnTrade] = []
    elif after_trade_id:
        found = await own_trades(client, latestmin=after_trade_id)
    else:
        found = [t for t in await own_trades(client, after_s=since_ns // NS) if w.iso_ns(t.timestamp) >= since_ns]
    finished: list[w.Order] = []
    gone: list[str] = []
    if working:
        open_ids = {o.id for o in await client.orders()}
        for vid in sorted(set(working) - open_ids):
            try:
                finished.append(await client.order(vid))
            except OrderNotFound:
                gone.append(vid)
    return found, finished, gone
