"""The Samco REST client: every endpoint, typed; the session token on every call; Samco's
Success/Failure envelope turned into typed exceptions carrying Samco's own message.

- Auth: `x-session-token` from `SamcoSession.token()`, which waits out a renewal. A 401 kills that
  token: the session renews once and the request goes again, once (a refused request was not
  carried out, so even a write is safe to send again). A second 401 is raised.
- Static IP: a 403 on order entry (place, modify, cancel), or one whose text names the IP, is one
  `AuthError` that says what `GET /ip/whoami` reports (this machine's address and the registered
  ones); any other 403 is raised as Samco worded it. whoami itself is asked without that
  explanation and never while one is being made, so a whoami answered 403 is one error, not a
  loop. A 403 is never retried.
- Samco publishes no rate limits; one process-wide limiter per key and host keeps us at
  `requests_per_s` (default `REQUESTS_PER_S`). Reads are retried on 429/5xx by `RestClient`;
  writes never are.
- Failures are classified by Samco's text (it has no error codes on order endpoints): the first
  pattern of `ERROR_PATTERNS` found in `statusMessage` names the exception class.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import msgspec
from yarl import URL

from adapters.samco import schemas as w
from adapters.samco.auth import SamcoSession
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
from engine.venue.ratelimit import RateLimiter, shared_limiter
from engine.venue.rest import Response, RestClient

T = TypeVar("T")
REQUESTS_PER_S = 10
STATIC_IP = "static_ip"  # the `code` of the static-IP AuthError
ORDER_ENTRY = ("/order/placeOrder", "/order/modifyOrder/", "/order/cancelOrder")  # what Samco checks the IP of
_MENTIONS_IP = re.compile(r"\bip\b", re.IGNORECASE)
# set while a task explains a 403 (asks whoami): a 403 met inside is raised as it is, never explained
_EXPLAINING: contextvars.ContextVar[bool] = contextvars.ContextVar("samco_explaining_403", default=False)

# (lower-case text in statusMessage, exception) - first match wins, so specific before general.
ERROR_PATTERNS: tuple[tuple[str, type[VenueError]], ...] = (
    ("static ip", AuthError),
    ("session", AuthError),
    ("api key", AuthError),
    ("apikey", AuthError),
    ("api secret", AuthError),
    ("market is closed", MarketClosed),
    ("market closed", MarketClosed),
    ("outside market hours", MarketClosed),
    ("insufficient", InsufficientFunds),
    ("margin exceeds", InsufficientFunds),
    ("invalid order number", OrderNotFound),
    ("order not found", OrderNotFound),
    ("no order found", OrderNotFound),
    ("does not exist", OrderNotFound),
    ("invalid", InvalidOrder),
    ("not allowed", InvalidOrder),
    ("cannot be", InvalidOrder),
    ("should be", InvalidOrder),
    ("multiple of", InvalidOrder),
)
_BY_STATUS: dict[int, type[VenueError]] = {401: AuthError, 403: AuthError, 404: OrderNotFound}


def classify(message: str) -> type[VenueError] | None:
    lowered = message.lower()
    for pattern, cls in ERROR_PATTERNS:
        if pattern in lowered:
            return cls
    return None


def error_for(venue: str, status: int, body: bytes) -> VenueError | None:
    """The typed exception an answer means (None for a success), with Samco's message."""
    if 200 <= status < 300 and b"ailure" not in body:
        return None  # the fast path: no Failure envelope in a 2xx body
    try:
        envelope: w.Envelope | None = w.decode_envelope(body) if body else None
    except msgspec.MsgspecError:
        envelope = None
    if 200 <= status < 300 and (envelope is None or not envelope.failed):
        return None
    message = envelope.statusMessage if envelope is not None and envelope.statusMessage else body[:300].decode("utf-8", "replace")
    code = envelope.errorCode if envelope is not None else None
    if status == 429:
        cls: type[VenueError] = RateLimited
    elif status >= 500:
        cls = VenueUnavailable
    elif status in (401, 403):
        cls = AuthError
    else:
        cls = classify(message) or _BY_STATUS.get(status, VenueError)
    return cls(venue, message or f"HTTP {status}", code=code, http_status=status)


class SamcoClient(RestClient):
    """One aiohttp session to Samco (or its emulator) for one API key."""

    def __init__(
        self,
        venue: str,
        base_url: str,
        *,
        api_key: str,
        api_secret: str,
        now_ns: Callable[[], int],
        session: aiohttp.ClientSession | None = None,
        timeout_s: float = 10.0,
        retries: int = 3,
        renew_before_s: float = 600.0,
        session_check_s: float = 30.0,
        requests_per_s: int = REQUESTS_PER_S,
    ) -> None:
        super().__init__(venue, base_url, session=session, timeout_s=timeout_s, retries=retries)
        self._credentials = w.SessionRequest(apiKey=api_key, apiSecret=api_secret)
        self.auth = SamcoSession(
            venue, self.login, now_ns=now_ns, renew_before_s=renew_before_s, check_s=session_check_s
        )
        host = URL(self.base_url).authority
        self.limiter = shared_limiter(f"samco:{fingerprint(api_key)}@{host}", requests_per_s, 1.0)
        self.ip_refusals = 0

    def limiter_label(self, limiter: RateLimiter) -> str:
        return "requests"  # our own budget, `requests_per_s`

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
        explain_403: bool = True,
    ) -> Response:
        """One request with the session token; after a 401, one renewal and one more try."""
        for attempt in (1, 2):
            token = await self.auth.token()
            try:
                return await self.request(
                    method, path, params=params, body=body, headers={"x-session-token": token}, limiters=(self.limiter,)
                )
            except AuthError as exc:
                if exc.http_status == 401 and attempt == 1:
                    self.auth.rejected(token)
                    continue
                if exc.http_status == 403 and explain_403 and _about_the_ip(path, exc.text):
                    raise await self._static_ip_error(exc) from None
                raise
        raise AssertionError("unreachable")

    async def _static_ip_error(self, refused: AuthError) -> AuthError:
        """The 403 and what /ip/whoami says about it, as one error (whoami is asked once: a 403
        met while explaining one is raised as it is)."""
        if _EXPLAINING.get():
            return refused
        self.ip_refusals += 1
        reset = _EXPLAINING.set(True)
        try:
            me = await self.whoami()
            seen = (
                f"this machine calls from {me.source_ip or 'an unknown address'}; registered: primary "
                f"{me.primaryIp or 'none'}, secondary {me.secondaryIp or 'none'}"
            )
        except VenueError as exc:
            seen = f"GET /ip/whoami failed too: {exc.text}"
        finally:
            _EXPLAINING.reset(reset)
        hint = "register this address under Static IPs in Samco's web dashboard"
        return AuthError(self.venue, f"{refused.text} ({seen}; {hint})", code=STATIC_IP, http_status=403)

    # --- session ------------------------------------------------------------------------------

    async def login(self) -> w.LoginReply:
        """POST /session/token with apiKey and apiSecret (no session header)."""
        response = await self.request(
            "POST", "/session/token", body=w.encode(self._credentials), limiters=(self.limiter,), idempotent=False
        )
        return self.decoded(w.decode_login, response, "/session/token")

    async def whoami(self) -> w.WhoAmI:
        """GET /ip/whoami, its 403 (if any) raised as Samco worded it."""
        return self.decoded(w.decode_whoami, await self.call("GET", "/ip/whoami", explain_403=False), "/ip/whoami")

    async def logout(self) -> w.Envelope:
        return self.decoded(w.decode_envelope, await self.call("DELETE", "/logout"), "/logout")

    # --- orders -------------------------------------------------------------------------------

    async def place(self, request: w.OrderRequest) -> w.PlaceReply:
        """POST /order/placeOrder, once: a 5xx or a broken connection is raised, never re-sent."""
        response = await self.call("POST", "/order/placeOrder", body=w.encode(request))
        return self.decoded(w.decode_place, response, "/order/placeOrder")

    async def modify(self, order_number: str, request: w.ModifyRequest) -> w.PlaceReply:
        path = f"/order/modifyOrder/{quote(order_number, safe='')}"
        return self.decoded(w.decode_place, await self.call("PUT", path, body=w.encode(request)), path)

    async def cancel(self, order_number: str) -> w.CancelReply:
        response = await self.call("DELETE", "/order/cancelOrder", params={"orderNumber": order_number})
        return self.decoded(w.decode_cancel, response, "/order/cancelOrder")

    async def order_book(self) -> list[w.OrderRow]:
        return (await self.get("/order/orderBook", w.decode_order_book)).orderBookDetails

    async def order_status(self, order_number: str) -> w.OrderStatusReply:
        return await self.get("/order/getOrderStatus", w.decode_order_status, {"orderNumber": order_number})

    async def trade_book(self) -> list[w.TradeRow]:
        return (await self.get("/trade/tradeBook", w.decode_trade_book)).rows

    # --- account ------------------------------------------------------------------------------

    async def positions(self, kind: str = "NET") -> list[w.PositionRow]:
        """`kind` DAY (today's trades) or NET (carried forward too)."""
        return (await self.get("/position/getPositions", w.decode_positions, {"positionType": kind})).positionDetails

    async def holdings(self) -> w.HoldingsReply:
        return await self.get("/holding/getHoldings", w.decode_holdings)

    async def limits(self) -> w.LimitsReply:
        return await self.get("/limit/getLimits", w.decode_limits)

    # --- market data --------------------------------------------------------------------------

    async def quote(self, symbol_name: str, exchange: str) -> w.QuoteReply:
        return await self.get("/quote/getQuote", w.decode_quote, {"symbolName": symbol_name, "exchange": exchange})

    async def intraday_candles(
        self, symbol_name: str, exchange: str, *, from_time: str, to_time: str, interval_min: int = 1
    ) -> list[w.IntradayCandle]:
        """`from_time`/`to_time` as "yyyy-MM-dd HH:mm:ss" IST."""
        params = {"symbolName": symbol_name, "exchange": exchange, "fromDate": from_time, "toDate": to_time, "interval": interval_min}
        return (await self.get("/intraday/candleData", w.decode_intraday, params)).intradayCandleData

    async def historical_candles(self, symbol_name: str, exchange: str, *, from_date: str, to_date: str) -> list[w.HistoricalCandle]:
        """Daily candles; dates as "yyyy-MM-dd"."""
        params = {"symbolName": symbol_name, "exchange": exchange, "fromDate": from_date, "toDate": to_date}
        return (await self.get("/history/candleData", w.decode_history, params)).historicalCandleData

    async def search(self, exchange: str, text: str) -> list[w.SearchRow]:
        params = {"exchange": exchange, "searchSymbolName": text}
        return (await self.get("/eqDervSearch/search", w.decode_search, params)).searchResults

    async def scrip_master(self, url: str) -> str:
        """The scrip master CSV (a public file, often on another host: no token)."""
        try:
            async with self.session.get(url, timeout=aiohttp.ClientTimeout(total=60)) as resp:
                payload = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise VenueUnavailable(self.venue, f"scrip master {url}: {exc!r}") from None
        if status != 200:
            raise VenueUnavailable(self.venue, f"scrip master {url}: HTTP {status}", http_status=status)
        return payload.decode("utf-8-sig", "replace")


def _about_the_ip(path: str, text: str) -> bool:
    """Whether a 403 is the static-IP refusal: an order-entry call, or a text that names the IP."""
    return path.startswith(ORDER_ENTRY) or bool(_MENTIONS_IP.search(text))
