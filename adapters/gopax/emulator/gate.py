"""The emulator's door: GOPAX's error bodies, rate limits and request authentication.

Private requests are verified over the raw path and the raw body bytes, in both schemes, each
strict about the query string: the current one (timestamp, `'t'` prefix, +-60 s, optional
`receive-window`) signs `GET /orders`' query and no other; the seed's legacy one (nonce, no prefix,
strictly increasing per key) never signs a query - the seed's own code splits it off the path - so a
legacy `GET /orders?includePast=true` signed with its query is refused (10229). The socket's
login: 64-character keys only, the timestamp within 5 s.
"""

from __future__ import annotations

import contextlib
import hmac
import time
from collections import deque
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
from aiohttp import web

from adapters.gopax import schemas as w
from adapters.gopax.auth import current_prehash, legacy_prehash, sign
from adapters.gopax.client import RATE_LIMITS, buckets, is_private

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
OWNER_KEY = web.RequestKey("owner", str)  # who a verified private request belongs to
WS_KEY_LENGTH = 64


def error(status: int, code: int, message: str | None = None, data: Any = None) -> web.Response:
    """GOPAX's error body: {errorMessage, errorCode[, errorData]}."""
    body: dict[str, Any] = {"errorMessage": message or w.ERROR_TEXT.get(code, "Error"), "errorCode": code}
    if data is not None:
        body["errorData"] = data
    return web.json_response(body, status=status)


def reply(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=w.encode(payload), status=status, content_type="application/json")


def fault_response(status: int) -> web.Response:
    """How an injected fault looks on GOPAX's wire."""
    if status == 429:
        return error(429, 10105)
    return web.json_response({"errorMessage": "Service Unavailable" if status == 503 else "Internal Server Error"}, status=status)


class Gate:
    """Keys and their secrets, nonces seen, and the moving windows of every rate limit."""

    def __init__(self, keys: dict[str, tuple[str, bytes]], now_ms: Callable[[], int], *, exempt: str = "/ws") -> None:
        self.keys = keys  # api key -> (owner, raw secret)
        self.now_ms = now_ms
        self.exempt = exempt
        self.nonces: dict[str, Decimal] = {}
        self._windows: dict[tuple[str, str], deque[float]] = {}

    # --- middlewares --------------------------------------------------------------------------

    @web.middleware
    async def limit(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """GOPAX's moving windows: over any of them, 429 (code 10105); the weights in headers."""
        if request.path == self.exempt:
            return await handler(request)
        tif = None
        if request.method == "POST" and request.path == "/orders":
            with contextlib.suppress(msgspec.MsgspecError):
                tif = w.decode_order_request(await request.read()).timeInForce
        now = time.monotonic()
        ip = request.remote or "?"
        counted = []
        for name in buckets(request.method, request.path, request.query, tif):
            rule = RATE_LIMITS[name]
            scope = (request.headers.get("api-key") or ip) if rule.per == "key" else ip
            stamps = self._windows.setdefault((name, scope), deque())
            while stamps and stamps[0] <= now - rule.window_s:
                stamps.popleft()
            if len(stamps) >= rule.calls:
                return error(429, 10105)
            counted.append((stamps, rule.calls))
        for stamps, _ in counted:
            stamps.append(now)
        response = await handler(request)
        stamps, calls = counted[0]
        kind = "api-key" if is_private(request.path) else "ip-addr"
        response.headers[f"x-gopax-{kind}-used-weight"] = str(len(stamps))
        response.headers[f"x-gopax-{kind}-left-weight"] = str(max(calls - len(stamps), 0))
        return response

    @web.middleware
    async def auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not is_private(request.path):
            return await handler(request)
        verdict = self.verify(request, await request.read())
        if isinstance(verdict, web.Response):
            return verdict
        request[OWNER_KEY] = verdict
        return await handler(request)

    # --- the checks ---------------------------------------------------------------------------

    def verify(self, request: web.Request, body: bytes) -> str | web.Response:
        """The owner of a correctly signed request, or GOPAX's refusal."""
        headers = request.headers
        key = headers.get("api-key")
        if not key:
            return error(401, 10230)
        found = self.keys.get(key)
        if found is None:
            return error(401, 10155)
        owner, secret = found
        timestamp, nonce = headers.get("timestamp"), headers.get("nonce")
        if timestamp and nonce:
            return error(400, 10265)
        if not timestamp and not nonce:
            return error(400, 10231)
        receive_window = headers.get("receive-window", "")
        if receive_window and not (receive_window.isdigit() and 200 <= int(receive_window) <= 60_000):
            return error(400, 10296)
        path, _, query = request.raw_path.partition("?")
        text = body.decode("utf-8", "replace")
        method = request.method
        if timestamp:
            prehash = current_prehash(timestamp, method, path, query, text, receive_window)
        else:
            prehash = legacy_prehash(nonce or "", method, path, text)  # the path without its query
        if not hmac.compare_digest(sign(secret, prehash), headers.get("signature", "")):
            return error(401, 10229)
        if timestamp:
            return self._check_timestamp(timestamp, receive_window) or owner
        return self._check_nonce(key, nonce or "") or owner

    def _check_timestamp(self, timestamp: str, receive_window: str) -> web.Response | None:
        if not timestamp.isdigit():
            return error(401, 10263)
        sent, now = int(timestamp), self.now_ms()
        if receive_window:
            if sent > now + 1000:
                return error(401, 10264)
            if now > sent + int(receive_window):
                return error(401, 10298)
            return None
        if sent < now - 60_000:
            return error(401, 10263)
        if sent > now + 60_000:
            return error(401, 10264)
        return None

    def _check_nonce(self, key: str, nonce: str) -> web.Response | None:
        try:
            value = Decimal(nonce)
        except InvalidOperation:
            return error(401, 10108)
        last = self.nonces.get(key)
        if last is not None and value <= last:
            return error(401, 10108)
        self.nonces[key] = value
        return None

    def ws_login(self, query: Any) -> str | None | web.Response:
        """The socket's owner from its login query; None without one (public channels only)."""
        key = query.get("apiKey")
        if key is None:
            return None
        found = self.keys.get(key)
        if found is None or len(key) != WS_KEY_LENGTH:
            return error(401, 10155)
        timestamp = query.get("timestamp", "")
        if not hmac.compare_digest(sign(found[1], f"t{timestamp}"), query.get("signature", "")):
            return error(401, 10229)
        if not timestamp.isdigit() or abs(int(timestamp) - self.now_ms()) > 5_000:
            return error(401, 10263 if timestamp.isdigit() and int(timestamp) < self.now_ms() else 10264)
        return found[0]
