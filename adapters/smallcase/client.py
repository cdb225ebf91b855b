"""The smallcase Gateway REST client: create a transaction, its status, its orders, the holdings.

Every call carries `x-gateway-secret` and a fresh-enough auth token (auth.py). Reads are retried on
429/5xx by `RestClient`; creating a transaction never is: a transaction whose creation is in doubt
is harmless, since nothing happens until a user acts on it, and it dies unused after 5 minutes.
Smallcase publishes no rate limits, so none are applied here. Errors are typed by the envelope's
error names (`error_for`, `typed_error`), whatever the HTTP status, a 2xx saying `success: false`
included; a 404 without smallcase's `invalid_transactionId` is not "not found".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import msgspec

from adapters.smallcase import schemas as w
from adapters.smallcase.auth import GatewayAuth
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
from engine.venue.rest import RestClient

T = TypeVar("T")

CREATE_PATH = "/gateway/{gateway}/transaction"
STATUS_PATH = "/v1/{gateway}/engine/transactiondetails"  # ?transactionId= (name inferred)
ORDERS_PATH = "/v1/{gateway}/engine/orderdetails"  # ?transactionId= (path inferred)
HOLDINGS_PATH = "/v1/{gateway}/engine/user/holdings"

# Error names in the envelope -> the typed exception they mean.
ERROR_CLASSES: dict[str, type[VenueError]] = {
    "invalid_gateway_secret": AuthError,
    "invalid_jwt": AuthError,
    "invalid_gateway": AuthError,
    "user_mismatch": AuthError,
    "invalid_transactionId": OrderNotFound,
    "market_closed": MarketClosed,
    "insufficient_funds": InsufficientFunds,
    "insufficient_holdings": InsufficientFunds,
    "invalid_order_config": InvalidOrder,
    "intent_not_supported": InvalidOrder,
}
# Only these statuses name a class by themselves. A 404 does not: a proxy or a wrong path answers
# 404 too, so only the venue's own `invalid_transactionId` means "no such transaction".
_BY_STATUS: dict[int, type[VenueError]] = {401: AuthError, 403: AuthError}


def error_for(venue: str, status: int, body: bytes) -> VenueError | None:
    """The typed exception an answer means (None for a success), named by smallcase's error."""
    if 200 <= status < 300:
        return None
    try:
        names = w.error_names(w.decode_envelope(body).errors) if body else []
    except msgspec.MsgspecError:
        names = []
    return typed_error(venue, status, names, body[:300].decode("utf-8", "replace") or f"HTTP {status}")


def typed_error(venue: str, status: int, names: list[str], fallback: str) -> VenueError:
    """The exception for an answer that failed with `names` (its envelope's errors), or `fallback`
    as the text when it names none. A 2xx that says `success: false` is mapped by its names."""
    code = names[0] if names else None
    text = "; ".join(names) if names else fallback
    if status == 429:
        cls: type[VenueError] = RateLimited
    elif status >= 500:
        cls = VenueUnavailable
    else:
        cls = ERROR_CLASSES.get(code or "", _BY_STATUS.get(status, VenueError))
    return cls(venue, text, code=code, http_status=status)


class SmallcaseClient(RestClient):
    """One aiohttp session to the gateway (or its emulator) for one gateway name."""

    def __init__(
        self,
        venue: str,
        base_url: str,
        gateway: str,
        auth: GatewayAuth,
        *,
        session: Any = None,
        timeout_s: float = 10.0,
        retries: int = 3,
    ) -> None:
        super().__init__(venue, base_url, session=session, timeout_s=timeout_s, retries=retries)
        self.gateway = gateway
        self.auth = auth
        self._segment = quote(gateway, safe="")

    def sign(self, method: str, path: str, query: str, body: bytes) -> dict[str, str]:
        return self.auth.headers()

    def error_for(self, status: int, body: bytes, headers: Mapping[str, str]) -> VenueError | None:
        return error_for(self.venue, status, body)

    def path(self, template: str) -> str:
        return template.format(gateway=self._segment)

    async def _call(
        self, method: str, template: str, decode: Callable[[bytes], w.Envelope[T]], *,
        params: Mapping[str, Any] | None = None, body: bytes = b"",
    ) -> T:
        path = self.path(template)
        response = await self.request(method, path, params=params, body=body)
        try:
            envelope = decode(response.body)
        except msgspec.MsgspecError as exc:
            raise VenueError(self.venue, f"unexpected answer to {path}: {exc}", http_status=response.status) from None
        if not envelope.success or envelope.data is None:
            raise typed_error(self.venue, response.status, w.error_names(envelope.errors), f"no data from {path}")
        return envelope.data

    async def create_transaction(self, request: w.CreateTransaction) -> w.Created:
        """POST the transaction, once: a 429, a 5xx or a broken connection is raised, never re-sent."""
        return await self._call("POST", CREATE_PATH, w.decode_created, body=w.encode(request))

    async def transaction(self, transaction_id: str) -> w.TransactionDetails:
        data = await self._call("GET", STATUS_PATH, w.decode_transaction, params={"transactionId": transaction_id})
        return data.transactionDetails

    async def order_details(self, transaction_id: str) -> w.OrderDetails:
        return await self._call("GET", ORDERS_PATH, w.decode_order_details, params={"transactionId": transaction_id})

    async def holdings(self) -> w.Holdings:
        """The connected user's holdings (the auth token must carry a smallcaseAuthId)."""
        return await self._call("GET", HOLDINGS_PATH, w.decode_holdings)

    async def open_link(self, url: str, attempts: int = 3) -> int:
        """GET the SDK link of a transaction (an emulated leprechaun user acts on it): its status.

        Only for an emulated gateway: there the link is the emulator's SDK page. Retried on a broken
        connection or a 5xx (opening a page twice is harmless); the last failure is raised."""
        for attempt in range(attempts):
            try:
                async with self.session.get(url, timeout=self.timeout) as resp:
                    await resp.read()
                    if resp.status < 500 or attempt == attempts - 1:
                        return resp.status
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                if attempt == attempts - 1:
                    raise VenueUnavailable(self.venue, f"GET {url}: {exc!r}") from None
            await asyncio.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")  # the last attempt returns or raises

    async def register_postback(self, path: str, url: str) -> None:
        """Announce our postback URL where the gateway takes it (the emulator's control endpoint)."""
        await self.request("POST", path, body=w.encode(w.PostbackRegistration(url)), idempotent=True)
