"""The emulated Firstock's door: login (password hash, TOTP, vendor code, API key), the jKey in
every body, the daily roll-over, rate limits, refusals.

- Login: POST /V1/login with the demo user id, the SHA-256 hex of its password, a TOTP of its secret
  valid on the emulator's clock (the current 30 s step or the one either side), its vendor code and
  API key gives a fresh `susertoken`. Every refusal is HTTP 200 with the failed envelope, as the
  public client needs (it calls `raise_for_status` on login alone).
- Every other call needs `userId` and a live `jKey` (`jkey` too, as the Go client spells it) in its
  JSON body: missing, unknown, logged out, rolled over (at `session_end` IST each day on the
  emulator's clock) or ended by `expire_sessions` -> HTTP 401 with the failed envelope.
- `rate_limit` (calls, window_s), on the emulator's clock: none by default (Firstock publishes no
  numbers); over it, 429 with the failed envelope, name RATE_LIMIT_EXCEEDED.
- A handler raising `Refused` is answered with the failed envelope (HTTP 400 unless told).
- No answer holds JSON true / false / null: the public client parses with `ast.literal_eval`.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import time
from typing import Any

import msgspec
import pyotp
from aiohttp import web

from adapters.firstock import schemas as w
from adapters.firstock.auth import next_session_end, password_hash
from adapters.firstock.emulator.market import OWNER
from adapters.simulation.exchange import EmulatorClock

NS = 1_000_000_000
BODY = web.RequestKey("body", dict)  # the request's JSON object
SESSION = web.RequestKey("session", str)  # the jKey it carried
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC_PATHS = frozenset({"/V1/login"})


def failed(status: int, name: str, message: str, field: str = "", *, http: int | None = None) -> web.Response:
    """Firstock's failed envelope; `http` is the HTTP status (the code's own unless told)."""
    body = w.Envelope(status="failed", code=str(status), name=name, error=w.ErrorDetail(field=field, message=message))
    return web.Response(body=w.encode(body), status=status if http is None else http, content_type="application/json")


def reply(payload: msgspec.Struct) -> web.Response:
    return web.Response(body=w.encode(payload), content_type="application/json")


def fault_response(status: int) -> web.Response:
    if status == 429:
        return failed(429, "RATE_LIMIT_EXCEEDED", "Too many requests, please try after some time")
    return failed(status, "SERVICE_UNAVAILABLE" if status == 503 else "INTERNAL_SERVER_ERROR", "Service unavailable")


class Refused(Exception):
    """A request refused with Firstock's failed envelope (HTTP 400 unless told)."""

    def __init__(self, message: str, name: str = "INVALID_PARAMETER", field: str = "", status: int = 400) -> None:
        super().__init__(message)
        self.message, self.name, self.field, self.status = message, name, field, status


@dataclass
class Session:
    issued_ns: int
    expires_ns: int
    ended: str = ""  # why it ended ("logged out", "expired"), "" while live


class Gate:
    """The door's state and middlewares, mixed into the emulator (its knobs are the emulator's)."""

    clock: EmulatorClock
    ws_paths: tuple[str, ...]

    def init_gate(self, rng_bytes: bytes) -> None:
        self.user_id = OWNER
        self.password = "demo-" + rng_bytes[:6].hex()
        self.totp_secret = base64.b32encode(rng_bytes[6:26]).decode()  # 32 characters, no padding
        self.vendor_code = f"{OWNER}_API"
        self.api_key = rng_bytes[26:42].hex()
        self.session_end = time(3, 0)
        self.login_gate: asyncio.Event | None = None  # set by a test: logins wait for it
        self.rate_limit: tuple[int, float] | None = None
        self.rate_limited = 0
        self.logins = 0
        self.refused_logins: list[str] = []  # the name of each refusal
        self.unauthorized = 0
        self.sessions: dict[str, Session] = {}
        self.issued: list[str] = []  # every jKey handed out, in order
        self._calls: deque[int] = deque()

    def gate_middlewares(self) -> list[Any]:
        return [self._limits, self._refusals, self._auth]

    # --- middlewares --------------------------------------------------------------------------

    @web.middleware
    async def _limits(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in self.ws_paths and self.rate_limit is not None:
            calls, window_s = self.rate_limit
            now = self.clock.now_ns()
            while self._calls and self._calls[0] <= now - int(window_s * NS):
                self._calls.popleft()
            if len(self._calls) >= calls:
                self.rate_limited += 1
                return failed(429, "RATE_LIMIT_EXCEEDED", "Too many requests, please try after some time")
            self._calls.append(now)
        return await handler(request)

    @web.middleware
    async def _refusals(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except Refused as exc:
            return failed(exc.status, exc.name, exc.message, exc.field)

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in self.ws_paths:
            return await handler(request)
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return failed(400, "INVALID_REQUEST", "The request body must be a JSON object")
        request[BODY] = body
        if request.path in PUBLIC_PATHS:
            return await handler(request)
        jkey = str(body.get("jKey") or body.get("jkey") or "")
        why = self.session_problem(str(body.get("userId", "")), jkey)
        if why is not None:
            self.unauthorized += 1
            return failed(401, "INVALID_SESSION", why, "jKey")
        request[SESSION] = jkey
        return await handler(request)

    def session_problem(self, user_id: str, jkey: str) -> str | None:
        """Why (`user_id`, `jkey`) may not call, or None when its session is live."""
        if not jkey:
            return "jKey is required"
        if user_id != self.user_id:
            return "Invalid userId"
        session = self.sessions.get(jkey)
        if session is None:
            return "Invalid jKey"
        if not session.ended and self.clock.now_ns() >= session.expires_ns:
            session.ended = "expired"
        if session.ended:
            return f"Session {session.ended}, please login again"
        return None

    # --- session ------------------------------------------------------------------------------

    def expire_sessions(self) -> bool:
        """End every session issued so far, as Firstock does at its daily roll-over."""
        for session in self.sessions.values():
            session.ended = session.ended or "expired"
        return True

    async def login(self, request: web.Request) -> web.Response:
        body = request[BODY]
        if self.login_gate is not None:
            await self.login_gate.wait()
        problem = self._login_problem(body)
        if problem is not None:
            name, field, message = problem
            self.refused_logins.append(name)
            return failed(401 if name != "INVALID_REQUEST" else 400, name, message, field, http=200)
        now = self.clock.now_ns()
        jkey = secrets.token_hex(32)
        self.sessions[jkey] = Session(now, next_session_end(now, self.session_end))
        self.issued.append(jkey)
        self.logins += 1
        data = w.LoginData(actid=self.user_id, userName="Demo Firstock", susertoken=jkey, email="demo@example.invalid")
        return reply(w.LoginReply(status="success", message="Login successful", data=data))

    def _login_problem(self, body: dict[str, Any]) -> tuple[str, str, str] | None:
        """(name, field, message) of a refused login, or None."""
        fields = ("userId", "password", "TOTP", "vendorCode", "apiKey")
        values = {f: str(body.get(f) or body.get(f.lower()) or "") for f in fields}
        for f in fields:
            if not values[f]:
                return "INVALID_REQUEST", f, f"{f} is required"
        if values["userId"] != self.user_id or not hmac.compare_digest(values["password"], password_hash(self.password)):
            return "INVALID_CREDENTIALS", "password", "Invalid userId or password"
        if not pyotp.TOTP(self.totp_secret).verify(values["TOTP"], for_time=self.clock.now_ns() // NS, valid_window=1):
            return "INVALID_TOTP", "TOTP", "Invalid or expired TOTP"
        if values["vendorCode"] != self.vendor_code:
            return "INVALID_VENDOR_CODE", "vendorCode", "Invalid vendor code"
        if not hmac.compare_digest(values["apiKey"], self.api_key):
            return "INVALID_API_KEY", "apiKey", "Invalid API key"
        return None

    async def logout(self, request: web.Request) -> web.Response:
        self.sessions[request[SESSION]].ended = "logged out"
        return reply(w.Envelope(status="success", message="Logout successful"))

    async def user_details(self, request: web.Request) -> web.Response:
        data = w.UserDetails(actid=self.user_id, email="demo@example.invalid", exchange=["NSE", "BSE", "NFO"],
                             orarr=["LMT", "MKT", "SL-LMT", "SL-MKT"], requestTime=w.ist_text(self.clock.now_ns()),
                             uprev="INVESTOR", userName="Demo Firstock")
        return reply(w.UserDetailsReply(status="success", message="User details", data=data))
