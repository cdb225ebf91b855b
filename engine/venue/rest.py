"""The REST client every venue's `client.py` builds on: one aiohttp session, rate limits, retries
for idempotent reads only, and the venue's error envelope turned into typed exceptions.

A write (placing an order) is never retried here: if its outcome is unknown the caller gets
`VenueUnavailable` and must find out what happened (by client order id) before doing anything.
Signing runs again on every attempt, so a retried read carries a fresh nonce or timestamp.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp
import msgspec
import structlog
from yarl import URL

from engine.errors import (
    AuthError,
    OrderNotFound,
    RateLimited,
    VenueError,
    VenueUnavailable,
)
from engine.venue.ratelimit import RateLimiter, Slot
from engine.venue.retry import Backoff, describe_error

log = structlog.get_logger("tickbus.rest")
T = TypeVar("T")


class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class RestClient:
    """Subclass and override `sign` (auth headers) and `error_for` (the venue's error envelope)."""

    def __init__(
        self,
        venue: str,
        base_url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout_s: float = 10.0,
        retries: int = 3,
        backoff: Backoff | None = None,
    ) -> None:
        self.venue = venue
        self.base_url = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.retries = retries
        self.backoff = backoff or Backoff(initial_s=0.2, maximum_s=5.0)
        self._session = session
        self._owns_session = session is None
        self.requests = 0
        self.retried = 0
        self.statuses: dict[int, int] = {}
        self.limiters_used: dict[str, RateLimiter] = {}  # label -> a limiter a request waited on
        self._labels: dict[str, str] = {}  # limiter name -> its label

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError(f"{self.venue} client used before start()")
        return self._session

    # --- hooks --------------------------------------------------------------------------------

    def sign(self, method: str, path: str, query: str, body: bytes) -> dict[str, str]:
        """Auth headers for one attempt; `query` is the encoded query string without '?'."""
        return {}

    def limiter_label(self, limiter: RateLimiter) -> str:
        """The short name a limiter goes by in the summary and the metrics (its key holds the host)."""
        return limiter.name

    def error_for(self, status: int, body: bytes, headers: Mapping[str, str]) -> VenueError | None:
        """The typed error this answer means, or None when it is a success."""
        if 200 <= status < 300:
            return None
        text = body[:300].decode("utf-8", "replace")
        if status == 429:
            return RateLimited(self.venue, text or "too many requests", http_status=status)
        if status >= 500:
            return VenueUnavailable(self.venue, text or "server error", http_status=status)
        if status in (401, 403):
            return AuthError(self.venue, text, http_status=status)
        if status == 404:
            return OrderNotFound(self.venue, text, http_status=status)
        return VenueError(self.venue, text, http_status=status)

    def request_counts(self) -> dict[str, Any]:
        """Requests sent (retries included), answers by HTTP status, retries, and each rate
        limiter's figures (calls, waits, the busiest window against the limit: the headroom)."""
        return {"requests": self.requests, "retried": self.retried,
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "limiters": {name: lim.stats() for name, lim in sorted(self.limiters_used.items())}}

    # --- requests -----------------------------------------------------------------------------

    async def call(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: bytes = b""
    ) -> Response:
        """One call as the venue wants it; venues override this to add limiters and auth."""
        return await self.request(method, path, params=params, body=body)

    async def get(self, path: str, decode: Callable[[bytes], T], params: Mapping[str, Any] | None = None) -> T:
        """GET `path` through `call` and decode the answer."""
        return self.decoded(decode, await self.call("GET", path, params=params), path)

    def decoded(self, decode: Callable[[bytes], T], response: Response, path: str) -> T:
        """The answer decoded; a shape the venue should not send is a VenueError, not a crash."""
        try:
            return decode(response.body)
        except msgspec.MsgspecError as exc:
            raise VenueError(self.venue, f"unexpected answer to {path}: {exc}", http_status=response.status) from None

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        limiters: Sequence[RateLimiter] = (),
        idempotent: bool | None = None,
    ) -> Response:
        """Send one request; reads are retried on 429, 5xx and broken connections."""
        method = method.upper()
        retry = (method == "GET") if idempotent is None else idempotent
        query = urlencode([(k, _text(v)) for k, v in _pairs(params)]) if params else ""
        url = URL(self.base_url + path + (f"?{query}" if query else ""), encoded=True)
        for limiter in limiters:
            if limiter.name not in self._labels:
                self._labels[limiter.name] = self.limiter_label(limiter)
                self.limiters_used[self._labels[limiter.name]] = limiter
        attempt = 0
        while True:
            attempt += 1
            slots: list[Slot] = []
            error: VenueError
            retry_after: float | None = None
            try:
                for limiter in limiters:
                    slots.append(await limiter.hold())
                all_headers = {"Accept": "application/json"}
                if body:
                    all_headers["Content-Type"] = "application/json"
                if headers:
                    all_headers.update(headers)
                all_headers.update(self.sign(method, path, query, body))  # signed once its slot is there
                self.requests += 1
                async with self.session.request(method, url, data=body or None, headers=all_headers, timeout=self.timeout) as resp:
                    payload = await resp.read()
                    self.statuses[resp.status] = self.statuses.get(resp.status, 0) + 1
                    found = self.error_for(resp.status, payload, resp.headers)
                    if found is None:
                        self.backoff.reset()
                        return Response(resp.status, resp.headers, payload)
                    error = found
                    retry_after = _retry_after(resp.headers)
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                error = VenueUnavailable(self.venue, f"{method} {path}: {describe_error(exc)}")
            finally:
                for slot in slots:  # the answer came (or never will): each call counts a window from now
                    slot.release()
            if not (retry and error.retryable and attempt <= self.retries):
                raise error
            self.retried += 1
            delay = retry_after if retry_after is not None else self.backoff.next()
            log.warning("retrying", venue=self.venue, method=method, path=path, attempt=attempt, error=str(error), delay_s=round(delay, 3))
            await asyncio.sleep(delay)


def _pairs(params: Mapping[str, Any] | Sequence[tuple[str, Any]]) -> list[tuple[str, Any]]:
    items = params.items() if isinstance(params, Mapping) else params
    return [(k, v) for k, v in items if v is not None]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), 30.0)
    except ValueError:
        return None
