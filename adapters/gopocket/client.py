"""The GoPocket REST client: every endpoint the venue has, typed; the Bearer session on every call;
the `status: Ok / Not_Ok` envelope turned into typed exceptions carrying the venue's own text.

- Paths are the SDK's (`open-api/order/v1/...`), joined to the base URL exactly as the venue has them,
  trailing slashes included (`profile/`, `limits/`, `orders/modify/`, `orders/cancel/`,
  `orders/history/`; not `positions`, `holdings`, `orders/book`, `orders/trades`, `orders/placeorder`).
- Auth: `Authorization: Bearer <userSession>`. A 401 kills that session: one more try after the
  session says what to do (exchange the auth code again, or raise how to log in again).
- Failures: the venue answers HTTP 200 with `{"status": "Not_Ok", "message"/"emsg": ...}` for what
  it refuses; the text names the exception (`ERROR_PATTERNS`, first match). 401 -> AuthError, 429
  -> RateLimited, 5xx -> VenueUnavailable; reads are retried on those, writes never.
- Rate limits: the config's `rate_limits`, one process-wide limiter per entry, user and host.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import msgspec
from yarl import URL

from adapters.gopocket import schemas as w
from adapters.gopocket.auth import GopocketSession
from adapters.gopocket.config import DEFAULT_RATE_LIMITS, RateLimit
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
from engine.venue.ratelimit import RateLimiter, shared_limiter
from engine.venue.rest import Response, RestClient

# endpoints, relative to the API prefix, spelled as the venue has them
PROFILE = "profile/"
LIMITS = "limits/"
POSITIONS = "positions"
HOLDINGS = "holdings"
PLACE = "orders/placeorder"
MODIFY = "orders/modify/"
CANCEL = "orders/cancel/"
EXIT_BRACKET = "orders/exit/sno"
SQUARE_OFF = "orders/positions/sqroff"
MARGIN = "orders/checkMargin"
ORDER_BOOK = "orders/book"
TRADE_BOOK = "orders/trades"
HISTORY = "orders/history/"

ERROR_PATTERNS: tuple[tuple[str, type[VenueError]], ...] = (
    ("session", AuthError),
    ("unauthori", AuthError),
    ("checksum", AuthError),
    ("market is closed", MarketClosed),
    ("market closed", MarketClosed),
    ("insufficient", InsufficientFunds),
    ("margin", InsufficientFunds),
    ("order not found", OrderNotFound),
    ("invalid order number", OrderNotFound),
    ("invalid broker order", OrderNotFound),
    ("no data", OrderNotFound),
    ("invalid", InvalidOrder),
    ("not allowed", InvalidOrder),
    ("cannot be", InvalidOrder),
    ("should be", InvalidOrder),
    ("multiple of", InvalidOrder),
    ("required", InvalidOrder),
)


def classify(message: str) -> type[VenueError] | None:
    lowered = message.lower()
    for pattern, cls in ERROR_PATTERNS:
        if pattern in lowered:
            return cls
    return None


def error_for(venue: str, status: int, body: bytes) -> VenueError | None:
    """The typed exception an answer means (None for a success), with the venue's text."""
    if 200 <= status < 300 and b"ot_ok" not in body.lower()[:200]:
        return None  # the fast path: no Not_Ok near the top of a 2xx body
    try:
        envelope: w.Envelope | None = w.decode_envelope(body) if body else None
    except msgspec.MsgspecError:
        envelope = None
    if 200 <= status < 300 and (envelope is None or not envelope.failed):
        return None
    message = envelope.reason if envelope is not None and envelope.reason else body[:300].decode("utf-8", "replace")
    if status == 429:
        cls: type[VenueError] = RateLimited
    elif status >= 500:
        cls = VenueUnavailable
    elif status in (401, 403):
        cls = AuthError
    else:
        cls = classify(message) or (OrderNotFound if status == 404 else VenueError)
    return cls(venue, message or f"HTTP {status}", http_status=status)


class GopocketClient(RestClient):
    """One aiohttp session to GoPocket (or its emulator) for one user."""

    def __init__(
        self,
        venue: str,
        base_url: str,
        *,
        user_id: str,
        api_prefix: str = "open-api/order/v1/",
        session_path: str = "open-api/order/v1/vendor/getUserDetails",
        session: aiohttp.ClientSession | None = None,
        timeout_s: float = 10.0,
        retries: int = 3,
        rate_limits: Sequence[RateLimit] = DEFAULT_RATE_LIMITS,
    ) -> None:
        super().__init__(venue, base_url, session=session, timeout_s=timeout_s, retries=retries)
        self.prefix = "/" + api_prefix.strip("/") + "/" if api_prefix.strip("/") else "/"
        self.session_path = "/" + session_path.lstrip("/")
        self.auth: GopocketSession | None = None
        host = URL(self.base_url).authority
        self.limiters: list[tuple[tuple[str, ...], RateLimiter]] = [
            (tuple(limit.paths), shared_limiter(f"gopocket:{user_id.upper()}@{host}:{i}", limit.calls, limit.per_s))
            for i, limit in enumerate(rate_limits)
        ]

    def error_for(self, status: int, body: bytes, headers: Mapping[str, str]) -> VenueError | None:
        return error_for(self.venue, status, body)

    def _limiters(self, endpoint: str) -> list[RateLimiter]:
        return [lim for paths, lim in self.limiters if not paths or endpoint.startswith(paths)]

    def _auth(self) -> GopocketSession:
        if self.auth is None:
            raise AuthError(self.venue, "no session configured")
        return self.auth

    # --- plumbing -----------------------------------------------------------------------------

    async def call(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: bytes = b""
    ) -> Response:
        """One request to `path` (relative to the API prefix) with the session; after a 401, the
        session decides, and one more try."""
        auth = self._auth()
        for attempt in (1, 2):
            token = await auth.token()
            try:
                response = await self.request(
                    method, self.prefix + path, params=params, body=body,
                    headers={"Authorization": f"Bearer {token}"}, limiters=self._limiters(path),
                )
            except AuthError as exc:
                if exc.http_status == 401 and attempt == 1:
                    auth.rejected(token)
                    continue
                if exc.http_status == 401:
                    auth.rejected(token)
                raise
            auth.worked(token)
            return response
        raise AssertionError("unreachable")

    async def post(self, path: str, payload: Any) -> Response:
        return await self.call("POST", path, body=w.encode(payload))

    # --- session ------------------------------------------------------------------------------

    async def exchange(self, check_sum: str) -> str:
        """POST getUserDetails {"checkSum"} (no session header): the userSession."""
        response = await self.request(
            "POST", self.session_path, body=w.encode(w.SessionRequest(checkSum=check_sum)), idempotent=False,
        )
        reply = self.decoded(w.decode_session, response, self.session_path)
        if not reply.token:
            raise AuthError(self.venue, f"no session in the answer: {reply.reason or reply.status}")
        return reply.token

    # --- account ------------------------------------------------------------------------------

    async def profile(self) -> list[w.ProfileRow]:
        return (await self.get(PROFILE, w.decode_profile)).result

    async def limits(self) -> list[w.LimitsRow]:
        return (await self.get(LIMITS, w.decode_limits)).result

    async def positions(self) -> list[w.PositionRow]:
        return (await self.get(POSITIONS, w.decode_positions)).result

    async def holdings(self, product: str | None = None) -> list[w.HoldingRow]:
        return (await self.get(f"{HOLDINGS}/{product}" if product else HOLDINGS, w.decode_holdings)).result

    # --- orders -------------------------------------------------------------------------------

    async def place(self, request: w.OrderRequest) -> w.PlaceRow:
        """POST orders/placeorder with a JSON array of one order, once (never re-sent)."""
        reply = self.decoded(w.decode_place, await self.post(PLACE, [request]), PLACE)
        if not reply.result or not reply.result[0].brokerOrderId:
            raise VenueError(self.venue, f"no brokerOrderId in the placement's answer: {reply.reason}")
        return reply.result[0]

    async def modify(self, request: w.ModifyRequest) -> w.PlaceRow | None:
        reply = self.decoded(w.decode_place, await self.post(MODIFY, request), MODIFY)
        return reply.result[0] if reply.result else None

    async def cancel(self, broker_order_id: str) -> w.PlaceRow | None:
        reply = self.decoded(w.decode_place, await self.post(CANCEL, w.OrderRef(brokerOrderId=broker_order_id)), CANCEL)
        return reply.result[0] if reply.result else None

    async def exit_bracket(self, broker_order_id: str, complexity: str = "BO") -> w.PlaceRow | None:
        body = [w.OrderRef(brokerOrderId=broker_order_id, orderComplexity=complexity)]
        reply = self.decoded(w.decode_place, await self.post(EXIT_BRACKET, body), EXIT_BRACKET)
        return reply.result[0] if reply.result else None

    async def square_off(self, request: w.OrderRequest) -> w.PlaceRow | None:
        reply = self.decoded(w.decode_place, await self.post(SQUARE_OFF, [request]), SQUARE_OFF)
        return reply.result[0] if reply.result else None

    async def margin(self, request: w.OrderRequest) -> list[w.MarginRow]:
        return self.decoded(w.decode_margin, await self.post(MARGIN, request), MARGIN).result

    async def order_book(self) -> list[w.OrderRow]:
        return (await self.get(ORDER_BOOK, w.decode_order_book)).result

    async def trade_book(self) -> list[w.TradeRow]:
        return (await self.get(TRADE_BOOK, w.decode_trade_book)).result

    async def history(self, broker_order_id: str) -> list[w.HistoryRow]:
        """POST orders/history/ (a read, so retried on 5xx)."""
        body = w.encode(w.OrderRef(brokerOrderId=broker_order_id))
        auth = self._auth()
        token = await auth.token()
        try:
            response = await self.request(
                "POST", self.prefix + HISTORY, body=body, headers={"Authorization": f"Bearer {token}"},
                limiters=self._limiters(HISTORY), idempotent=True,
            )
        except AuthError as exc:
            if exc.http_status == 401:
                auth.rejected(token)
                response = await self.call("POST", HISTORY, body=body)
            else:
                raise
        return self.decoded(w.decode_history, response, HISTORY).result

    # --- webhook ------------------------------------------------------------------------------

    async def subscribe_webhook(self, webhook_url: str, callback_url: str, *, unsubscribe: bool = False) -> w.Envelope:
        """POST <webhook_url>subscribe (or unSubscribe) {"callbackUrl"} with the session."""
        url = webhook_url.rstrip("/") + ("/unSubscribe" if unsubscribe else "/subscribe")
        token = await self._auth().token()
        body = w.encode(w.WebhookRequest(callbackUrl=callback_url))
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        try:
            async with self.session.post(url, data=body, headers=headers, timeout=self.timeout) as resp:
                payload, status = await resp.read(), resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise VenueUnavailable(self.venue, f"webhook subscribe: {exc!r}") from None
        found = error_for(self.venue, status, payload)
        if found is not None:
            raise found
        return w.decode_envelope(payload)

    # --- contract master ----------------------------------------------------------------------

    async def contract_master(self, contract_url: str, exchange: str) -> str:
        """The day's contract master CSV of `exchange` (public, no session), tried under the names
        the SDK tries, in its order: nse, nse.csv, nse.CSV, NSE, NSE.csv, NSE.CSV."""
        base = contract_url if contract_url.endswith("/") else contract_url + "/"
        low, up = exchange.lower(), exchange.upper()
        last = "no answer"
        for name in (low, low + ".csv", low + ".CSV", up, up + ".csv", up + ".CSV"):
            try:
                async with self.session.get(base + name, timeout=aiohttp.ClientTimeout(total=60)) as resp:
                    payload, status = await resp.read(), resp.status
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                last = repr(exc)
                continue
            if status == 200:
                return payload.decode("utf-8-sig", "replace")
            last = f"HTTP {status}"
        raise VenueUnavailable(self.venue, f"contract master {exchange} at {base}: {last}")
