"""The Firstock REST client: every endpoint of the public client, typed; the jKey in every body;
Firstock's `status: success / failed` envelope turned into typed exceptions carrying its words.

- Every call is `POST /V1/<endpoint>` with a JSON body holding `userId` and `jKey` (never a header).
  A body is built per attempt with the session's current jKey.
- A refused jKey (401/403, or a failed envelope naming the session) kills that jKey: the session
  logs in once more and the request goes again, once (a refused request was not carried out, so
  even a write is safe to send again). A second refusal is raised.
- Failures are typed by HTTP status and `code` first (429, 5xx, 401/403), then by `name`, then by
  the words of the message (`ERROR_PATTERNS`, first match wins).
- Firstock publishes no rate limits: one process-wide limiter per user and host keeps us at
  `requests_per_s`. Reads (every report and market call) are retried on 429/5xx by `RestClient`;
  writes (place, modify, cancel, conversion, AMOs) never are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import time
from typing import Any, TypeVar

import aiohttp
import msgspec
from yarl import URL

from adapters.firstock import schemas as w
from adapters.firstock.auth import Credentials, FirstockSession
from adapters.firstock.config import REQUESTS_PER_S
from engine.errors import (
    AuthError,
    InsufficientFunds,
    InvalidOrder,
    MarketClosed,
    OrderNotFound,
    RateLimited,
    VenueError,
    VenueUnavailable,
)
from engine.log import fingerprint
from engine.venue.ratelimit import shared_limiter
from engine.venue.rest import RestClient

T = TypeVar("T")
S = TypeVar("S", bound=w.Authed)
PREFIX = "/V1/"
WRITES = frozenset({"placeOrder", "modifyOrder", "cancelOrder", "productConversion", "placeAMO", "modifyAMO"})

NAMES: Mapping[str, type[VenueError]] = {
    "INVALID_SESSION": AuthError, "SESSION_EXPIRED": AuthError, "INVALID_JKEY": AuthError,
    "INVALID_CREDENTIALS": AuthError, "INVALID_TOTP": AuthError, "INVALID_VENDOR_CODE": AuthError,
    "INVALID_API_KEY": AuthError, "RATE_LIMIT_EXCEEDED": RateLimited, "ORDER_NOT_FOUND": OrderNotFound,
    "MARKET_CLOSED": MarketClosed, "INSUFFICIENT_MARGIN": InsufficientFunds, "INSUFFICIENT_HOLDINGS": InsufficientFunds,
    "INVALID_PARAMETER": InvalidOrder, "ORDER_NOT_MODIFIABLE": InvalidOrder, "ORDER_NOT_CANCELLABLE": InvalidOrder,
}
ERROR_PATTERNS: tuple[tuple[str, type[VenueError]], ...] = (
    ("jkey", AuthError),
    ("session", AuthError),
    ("not logged in", AuthError),
    ("market is closed", MarketClosed),
    ("market closed", MarketClosed),
    ("insufficient", InsufficientFunds),
    ("margin", InsufficientFunds),
    ("order not found", OrderNotFound),
    ("invalid order number", OrderNotFound),
    ("no order", OrderNotFound),
    ("invalid", InvalidOrder),
    ("not allowed", InvalidOrder),
    ("cannot be", InvalidOrder),
    ("multiple of", InvalidOrder),
)
_SUCCESS = (b'"status":"success"', b'"status": "success"')


def classify(status: int, envelope: w.Envelope | None, message: str) -> type[VenueError]:
    code = int(str(envelope.code)) if envelope is not None and str(envelope.code).isdigit() else status
    if status == 429 or code == 429:
        return RateLimited
    if status >= 500 or code >= 500:
        return VenueUnavailable
    if status in (401, 403) or code in (401, 403):
        return AuthError
    named = NAMES.get(envelope.name.upper()) if envelope is not None and envelope.name else None
    if named is not None:
        return named
    lowered = message.lower()
    for pattern, cls in ERROR_PATTERNS:
        if pattern in lowered:
            return cls
    return OrderNotFound if status == 404 else VenueError


def error_for(venue: str, status: int, body: bytes) -> VenueError | None:
    """The typed exception an answer means (None for a success), with Firstock's own words."""
    if 200 <= status < 300 and any(s in body for s in _SUCCESS):
        return None  # the fast path: a success envelope
    try:
        envelope: w.Envelope | None = w.decode_envelope(body) if body else None
    except msgspec.MsgspecError:
        envelope = None
    if 200 <= status < 300 and envelope is not None and not envelope.failed:
        return None
    message = envelope.reason if envelope is not None and envelope.reason else body[:300].decode("utf-8", "replace")
    cls = classify(status, envelope, message)
    code = (envelope.name or str(envelope.code) or None) if envelope is not None else None
    return cls(venue, message or f"HTTP {status}", code=code, http_status=status)


class FirstockClient(RestClient):
    """One aiohttp session to Firstock (or its emulator) for one user."""

    def __init__(
        self,
        venue: str,
        base_url: str,
        *,
        credentials: Credentials,
        now_ns: Callable[[], int],
        session: aiohttp.ClientSession | None = None,
        timeout_s: float = 10.0,
        retries: int = 3,
        session_end: time = time(3, 0),
        login_retry_s: float = 30.0,
        requests_per_s: int = REQUESTS_PER_S,
    ) -> None:
        super().__init__(venue, base_url, session=session, timeout_s=timeout_s, retries=retries)
        self.user_id = credentials.user_id
        self.auth = FirstockSession(
            venue, self.login, credentials, now_ns=now_ns, session_end=session_end, retry_s=login_retry_s
        )
        host = URL(self.base_url).authority
        self.limiter = shared_limiter(f"firstock:{fingerprint(credentials.user_id)}@{host}", requests_per_s, 1.0)

    def error_for(self, status: int, body: bytes, headers: Mapping[str, str]) -> VenueError | None:
        return error_for(self.venue, status, body)

    # --- plumbing -----------------------------------------------------------------------------

    async def send(self, endpoint: str, request: S, decode: Callable[[bytes], T]) -> T:
        """POST /V1/`endpoint` with `request` carrying the current jKey; after a refused jKey, one
        login and one more try."""
        for attempt in (1, 2):
            jkey = await self.auth.token()
            body = w.encode(msgspec.structs.replace(request, userId=self.user_id, jKey=jkey))
            try:
                response = await self.request(
                    "POST", PREFIX + endpoint, body=body, limiters=(self.limiter,), idempotent=endpoint not in WRITES
                )
            except AuthError:
                if attempt == 1:
                    self.auth.rejected(jkey)
                    continue
                raise
            return self.decoded(decode, response, endpoint)
        raise AssertionError("unreachable")

    def _me(self) -> dict[str, str]:
        return {"userId": self.user_id, "jKey": ""}

    # --- session ------------------------------------------------------------------------------

    async def login(self, request: w.LoginRequest) -> w.LoginReply:
        """POST /V1/login (no jKey); a refusal comes back HTTP 200 with a failed body."""
        response = await self.request(
            "POST", PREFIX + "login", body=w.encode(request), limiters=(self.limiter,), idempotent=False
        )
        return self.decoded(w.decode_login, response, "login")

    async def logout(self, jkey: str) -> w.Envelope:
        body = w.encode(w.Authed(userId=self.user_id, jKey=jkey))
        response = await self.request("POST", PREFIX + "logout", body=body, limiters=(self.limiter,), idempotent=False)
        return self.decoded(w.decode_envelope, response, "logout")

    async def user_details(self) -> w.UserDetailsReply:
        return await self.send("userDetails", w.Authed(**self._me()), w.decode_user)

    # --- orders -------------------------------------------------------------------------------

    async def place(self, request: w.PlaceOrderRequest, *, amo: bool = False) -> w.OrderNumberData:
        """placeOrder (or placeAMO), once: a 5xx or a broken connection is raised, never re-sent."""
        reply = await self.send("placeAMO" if amo else "placeOrder", request, w.decode_order_number)
        return reply.data or w.OrderNumberData()

    async def modify(self, request: w.ModifyOrderRequest) -> w.OrderNumberData:
        return (await self.send("modifyOrder", request, w.decode_order_number)).data or w.OrderNumberData()

    async def modify_amo(self, request: w.ModifyAmoRequest) -> w.OrderNumberData:
        return (await self.send("modifyAMO", request, w.decode_order_number)).data or w.OrderNumberData()

    async def cancel(self, order_number: str) -> w.OrderNumberData:
        request = w.OrderNumberRequest(**self._me(), orderNumber=order_number)
        return (await self.send("cancelOrder", request, w.decode_order_number)).data or w.OrderNumberData()

    async def order_book(self) -> list[w.OrderRow]:
        return (await self.send("orderBook", w.Authed(**self._me()), w.decode_order_book)).data

    async def order_history(self, order_number: str) -> list[w.OrderRow]:
        """singleOrderHistory: the order's states, newest first."""
        request = w.OrderNumberRequest(**self._me(), orderNumber=order_number)
        return (await self.send("singleOrderHistory", request, w.decode_order_book)).data

    async def trade_book(self) -> list[w.TradeRow]:
        request = w.AccountRequest(**self._me(), actid=self.user_id)
        return (await self.send("tradeBook", request, w.decode_trade_book)).data

    # --- account ------------------------------------------------------------------------------

    async def positions(self) -> list[w.PositionRow]:
        request = w.AccountRequest(**self._me(), actid=self.user_id)
        return (await self.send("positionBook", request, w.decode_positions)).data

    async def holdings(self) -> list[w.HoldingRow]:
        request = w.HoldingsRequest(**self._me(), actid=self.user_id)
        return (await self.send("holdings", request, w.decode_holdings)).data

    async def limits(self) -> w.LimitData:
        request = w.AccountRequest(**self._me(), actid=self.user_id)
        return (await self.send("limit", request, w.decode_limit)).data or w.LimitData()

    async def order_margin(self, **fields: str) -> w.MarginData:
        """orderMargin: exchange, tradingSymbol, quantity, price, product, transactionType, priceType."""
        request = w.OrderMarginRequest(**self._me(), actid=self.user_id, **fields)
        return (await self.send("orderMargin", request, w.decode_margin)).data or w.MarginData()

    async def product_conversion(self, **fields: str) -> w.Envelope:
        """productConversion: exchange, tradingSymbol, quantity, product, previousProduct,
        transactionType, positionType."""
        request = w.ProductConversionRequest(**self._me(), actid=self.user_id, **fields)
        return await self.send("productConversion", request, w.decode_envelope)

    # --- market data --------------------------------------------------------------------------

    async def quote(self, exchange: str, trading_symbol: str) -> w.QuoteData:
        request = w.QuoteRequest(**self._me(), exchange=exchange, tradingSymbol=trading_symbol)
        return (await self.send("getQuote", request, w.decode_quote)).data or w.QuoteData()

    async def ltp(self, exchange: str, trading_symbol: str) -> w.QuoteData:
        request = w.QuoteRequest(**self._me(), exchange=exchange, tradingSymbol=trading_symbol)
        return (await self.send("getQuote/ltp", request, w.decode_quote)).data or w.QuoteData()

    async def multi_quote(self, scrips: list[tuple[str, str]], *, ltp_only: bool = False) -> list[w.QuoteData]:
        request = w.MultiQuoteRequest(**self._me(), data=[w.ScripRef(e, s) for e, s in scrips])
        endpoint = "getMultiQuotes/ltp" if ltp_only else "getMultiQuotes"
        return (await self.send(endpoint, request, w.decode_multi_quote)).data

    async def search(self, text: str) -> list[w.SearchRow]:
        return (await self.send("searchScrips", w.SearchRequest(**self._me(), stext=text), w.decode_search)).data

    async def security_info(self, exchange: str, trading_symbol: str) -> w.SecurityInfo:
        request = w.QuoteRequest(**self._me(), exchange=exchange, tradingSymbol=trading_symbol)
        data = (await self.send("securityInfo", request, w.decode_security)).data
        if data is None:
            raise VenueError(self.venue, f"no security info for {exchange}:{trading_symbol}")
        return data

    async def time_price_series(
        self, exchange: str, trading_symbol: str, *, start: str, end: str, interval: str = "1mi"
    ) -> list[w.Candle]:
        """Candles; `start` / `end` as "HH:MM:SS DD-MM-YYYY" IST, `interval` 1mi ... 60mi or 1d."""
        request = w.SeriesRequest(**self._me(), exchange=exchange, tradingSymbol=trading_symbol,
                                  startTime=start, endTime=end, interval=interval)
        return (await self.send("timePriceSeries", request, w.decode_series)).data

    def counts(self) -> dict[str, Any]:
        return {**self.request_counts(), "logins": self.auth.logins, "rejected_jkeys": self.auth.rejections}
