"""The emulated GoPocket's door: the vendor SSO (login page, redirect, checksum exchange), the Bearer
session on every call, rate limits, and the answers' envelope.

- SSO: `GET /?appcode=<appCode>` is the login page; the emulated user is signed in already, so it
  redirects (302) to the vendor's registered `redirect_url` with a fresh `authCode` and `userId`
  (an unknown app code gets a 400 page). A redirect's authCode works once; the demo account's
  `auth_code` (its credentials) works every time, for headless use and the SDK.
- Exchange: `POST {"checkSum"}` to open-api/order/v1/vendor/getUserDetails (the SDK's path) or
  am/sso/vendor/auth/getUserDetails (the seed's) or am/sso/vendor/getUserDetails (the docs'):
  sha256(userId + authCode + apiSecret) of a valid code gives a session,
  `{"status":"Ok","message":"Success","result":[{"accessToken":...,"userId":...}]}`; anything else
  `{"status":"Not_Ok","message":"Invalid checksum"}` (HTTP 200) and no session.
- Every other API call needs `Authorization: Bearer <session>` (`Bearer <userId> <session>` taken
  too): missing, unknown or lapsed -> 401 with the Not_Ok envelope.
- Business refusals are HTTP 200 `{"status":"Not_Ok","message":...,"emsg":...,"result":[]}` (the
  SDK turns every non-200 into its own Not_ok, so the venue's own text only survives a 200).
- `rate_limit` (calls, window_s): none by default; over it, 429 with the Not_Ok envelope.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import msgspec
from aiohttp import web

from adapters.gopocket import schemas as w
from adapters.gopocket.auth import checksum
from adapters.simulation.exchange import EmulatorClock

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
API = "/open-api/order/v1/"
SESSION_PATHS = (API + "vendor/getUserDetails", "/am/sso/vendor/auth/getUserDetails", "/am/sso/vendor/getUserDetails")
USER = web.RequestKey("user", str)
TOKEN = web.RequestKey("session", str)


def ok(result: list[Any], message: str = "Success") -> web.Response:
    return web.Response(body=w.encode({"status": "Ok", "message": message, "result": result}), content_type="application/json")


def not_ok(message: str, status: int = 200) -> web.Response:
    body = {"status": "Not_Ok", "message": message, "emsg": message, "result": []}
    return web.Response(body=w.encode(body), status=status, content_type="application/json")


def fault_response(status: int) -> web.Response:
    return not_ok({429: "Too many requests", 503: "Service Unavailable"}.get(status, "Internal Server Error"), status)


class Refused(Exception):
    """A request refused with the Not_Ok envelope (HTTP 200 unless told)."""

    def __init__(self, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Gate:
    """The door's state and middlewares, mixed into the emulator."""

    clock: EmulatorClock
    ws_path: str

    def init_gate(self, user_id: str, rng_bytes: bytes) -> None:
        self.user_id = user_id
        self.app_code = rng_bytes[:8].hex().upper()
        self.api_secret = rng_bytes[8:32].hex()
        self.auth_code = rng_bytes[32:44].hex().upper()
        self.redirect_url = "http://127.0.0.1:8765/gopocket/callback"
        self.rate_limit: tuple[int, float] | None = None
        self.rate_limited = 0
        self.unauthorized = 0
        self.logins = 0
        self.bad_checksums = 0
        self.sessions: dict[str, str] = {}  # session -> user
        self._codes: set[str] = set()  # authCodes from redirects, not used yet
        self._lapsed: set[str] = set()
        self._calls: deque[float] = deque()

    def gate_middlewares(self) -> list[Any]:
        return [self._limits, self._refusals, self._auth]

    @web.middleware
    async def _limits(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != self.ws_path and self.rate_limit is not None:
            calls, window_s = self.rate_limit
            now = time.monotonic()
            while self._calls and self._calls[0] <= now - window_s:
                self._calls.popleft()
            if len(self._calls) >= calls:
                self.rate_limited += 1
                return not_ok("Too many requests", 429)
            self._calls.append(now)
        return await handler(request)

    @web.middleware
    async def _refusals(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except Refused as exc:
            return not_ok(exc.message, exc.status)

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        guarded = (path.startswith(API) or path.startswith("/order-notify/")) and path not in SESSION_PATHS
        if not guarded:
            return await handler(request)
        token = self.session_of(request.headers.get("Authorization"))
        if token is None:
            self.unauthorized += 1
            return not_ok("Unauthorized: invalid or expired session, please login again", 401)
        request[TOKEN] = token
        request[USER] = self.sessions[token]
        return await handler(request)

    def session_of(self, header: str | None) -> str | None:
        """The live session an Authorization header carries ("Bearer s" or "Bearer user s"), or None."""
        if not header:
            return None
        scheme, _, rest = header.partition(" ")
        parts = rest.split()
        if scheme.lower() != "bearer" or not parts or len(parts) > 2:
            return None
        if len(parts) == 2 and parts[0].upper() != self.user_id:
            return None
        token = parts[-1]
        return token if token in self.sessions and token not in self._lapsed else None

    def live_session(self, token: str) -> bool:
        return token in self.sessions and token not in self._lapsed

    # --- SSO ----------------------------------------------------------------------------------

    async def login_page(self, request: web.Request) -> web.Response:
        appcode = request.query.get("appcode") or request.query.get("appCode")
        if appcode is None:
            return web.Response(text="<html><body>GoPocket (emulated)</body></html>", content_type="text/html")
        if not hmac.compare_digest(appcode.encode(), self.app_code.encode()):
            return web.Response(text="<html><body>Invalid app code</body></html>", status=400, content_type="text/html")
        code = secrets.token_hex(12).upper()
        self._codes.add(code)
        sep = "&" if "?" in self.redirect_url else "?"
        raise web.HTTPFound(f"{self.redirect_url}{sep}{urlencode({'authCode': code, 'userId': self.user_id})}")

    async def get_user_details(self, request: web.Request) -> web.Response:
        try:
            body = w.decode_session_request(await request.read())
        except msgspec.MsgspecError:
            return not_ok("checkSum is required")
        code = next((c for c in (self.auth_code, *self._codes)
                     if hmac.compare_digest(checksum(self.user_id, c, self.api_secret), body.checkSum.lower())), None)
        if code is None:
            self.bad_checksums += 1
            return not_ok("Invalid checksum")
        self._codes.discard(code)  # a redirect's code works once
        token = secrets.token_urlsafe(36)
        self.sessions[token] = self.user_id
        self.logins += 1
        return ok([{"accessToken": token, "userId": self.user_id}])

    def expire_sessions(self) -> bool:
        """End every session issued so far (the user logged out elsewhere, the venue's day ended)."""
        self._lapsed.update(self.sessions)
        return True
