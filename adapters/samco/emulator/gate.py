"""The emulated Samco's door: the session token, the static IP, rate limits, refusals.

- Session: POST /session/token with the demo apiKey and apiSecret gives an HS256 JWT whose `exp` is
  08:00 IST of the next calendar day on the emulator's clock (`expiry_rule` "next_eight": the next
  08:00 after issue). Every other call needs it as `x-session-token`: missing, forged, logged out
  or expired -> 401 with Samco's failure envelope. `login_gate` (an asyncio.Event) holds logins.
  `login_ip_check`: a login from an unregistered address is refused with EOAUTH009 (off).
- Static IP: order entry (place, modify, cancel) from an address not in `registered_ips` gets 403
  "The IP is not the registered static IP"; GET /ip/whoami says srcIp, primaryIp, matches.
- `rate_limit` (calls, window_s): none by default (Samco publishes no numbers); over it, 429 with
  the Failure envelope. `forbid` {path prefix: text}: those calls answered 403 with that text.
- A handler raising `Refused` is answered with the Failure envelope (400 unless told).
"""

from __future__ import annotations

import asyncio
import hmac
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Any

import msgspec
from aiohttp import web

from adapters.india import IST, ist_date, to_ns
from adapters.samco import schemas as w
from adapters.samco.auth import session_expiry_ns
from adapters.samco.client import ORDER_ENTRY
from adapters.samco.emulator.market import ORDER_TYPES
from adapters.simulation.exchange import EmulatorClock
from engine.venue import jwt

NS = 1_000_000_000
EIGHT = dtime(8, 0)
OWNER = "DEMO01"
CLAIMS = web.RequestKey("claims", dict)  # the verified session token's payload
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC_PATHS = frozenset({"/session/token", "/ScripMaster.csv"})
STATIC_IP_TEXT = "The IP is not the registered static IP"


def failure(status: int, message: str, code: str | None = None, now_ns: int | None = None) -> web.Response:
    """Samco's failure envelope."""
    body: dict[str, Any] = {"serverTime": server_time(now_ns), "msgId": str(uuid.uuid4()), "status": "Failure", "statusMessage": message}
    if code is not None:
        body["errorCode"] = code
    return web.json_response(body, status=status)


def reply(payload: msgspec.Struct) -> web.Response:
    return web.Response(body=w.encode(payload), content_type="application/json")


def fault_response(status: int) -> web.Response:
    text = {429: "Too many requests", 503: "Service Unavailable"}.get(status, "Internal Server Error")
    return failure(status, text)


def next_eight_ns(issued_ns: int) -> int:
    """The first 08:00 IST after `issued_ns` (the same day's before eight): `expiry_rule` "next_eight"."""
    day = ist_date(issued_ns)
    eight = to_ns(datetime.combine(day, EIGHT, IST))
    return eight if eight > issued_ns else to_ns(datetime.combine(day + timedelta(days=1), EIGHT, IST))


def server_time(now_ns: int | None) -> str:
    """Samco's serverTime ("dd/MM/yy HH:mm:ss", IST) on the emulator's clock when given."""
    now = datetime.now(IST) if now_ns is None else datetime.fromtimestamp(now_ns / NS, IST)
    return now.strftime("%d/%m/%y %H:%M:%S")


class Refused(Exception):
    """A request refused with Samco's failure envelope (status 400 unless told)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Gate:
    """The door's state and middlewares, mixed into the emulator (its knobs are the emulator's)."""

    clock: EmulatorClock
    ws_path: str
    api_key: str
    api_secret: str

    def init_gate(self, jwt_secret: bytes, registered_ips: list[str] | None) -> None:
        self.jwt_secret = jwt_secret
        self.registered_ips: list[str] = list(registered_ips if registered_ips is not None else ["127.0.0.1"])
        self.login_gate: asyncio.Event | None = None
        self.expiry_rule = "next_day"  # or "next_eight"
        self.rate_limit: tuple[int, float] | None = None  # (calls, window_s)
        self.login_ip_check = False
        self.forbid: dict[str, str] = {}
        self.rate_limited = 0
        self._calls: deque[float] = deque()
        self.logins = 0
        self.issued: list[str] = []  # the token id (jti) of every login, in order
        self.unauthorized = 0
        self.ip_refusals = 0
        self._revoked: set[str] = set()
        self._lapsed: set[str] = set()  # sessions ended by `expire_sessions`

    def gate_middlewares(self) -> list[Any]:
        return [self._limits, self._refusals, self._auth, self._static_ip]

    # --- middlewares and signals --------------------------------------------------------------

    @web.middleware
    async def _limits(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The `rate_limit` knob (one moving window for every call), then the `forbid` knob."""
        if request.path != self.ws_path and self.rate_limit is not None:
            calls, window_s = self.rate_limit
            now = time.monotonic()
            while self._calls and self._calls[0] <= now - window_s:
                self._calls.popleft()
            if len(self._calls) >= calls:
                self.rate_limited += 1
                return self._failure(429, "Too many requests, please try after some time")
            self._calls.append(now)
        for prefix, text in self.forbid.items():
            if request.path.startswith(prefix):
                return self._failure(403, text)
        return await handler(request)

    @web.middleware
    async def _refusals(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except Refused as exc:
            return self._failure(exc.status, exc.message)

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in PUBLIC_PATHS or request.path == self.ws_path:
            return await handler(request)
        claims = self.verify(request.headers.get("x-session-token"))
        if isinstance(claims, web.Response):
            return claims
        request[CLAIMS] = claims
        return await handler(request)

    @web.middleware
    async def _static_ip(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(ORDER_ENTRY) and request.remote not in self.registered_ips:
            self.ip_refusals += 1
            return self._failure(403, STATIC_IP_TEXT)
        return await handler(request)

    def verify(self, token: str | None) -> dict[str, Any] | web.Response:
        """The payload of a live session token, or Samco's 401."""
        if not token:
            self.unauthorized += 1
            return self._failure(401, "x-session-token header is missing")
        try:
            claims = jwt.decode(token, self.jwt_secret, now_s=self.clock.now_ns() / NS)
        except jwt.JwtError as exc:
            self.unauthorized += 1
            if exc.reason == "expired":
                return self._failure(401, "Session expired. Please generate a new session token")
            return self._failure(401, "Invalid session token")
        if claims.get("jti") in self._lapsed:
            self.unauthorized += 1
            return self._failure(401, "Session expired. Please generate a new session token")
        if claims.get("jti") in self._revoked:
            self.unauthorized += 1
            return self._failure(401, "Session logged out. Please generate a new session token")
        return claims

    def check_token(self, token: str | None) -> web.Response | None:
        verdict = self.verify(token)
        return verdict if isinstance(verdict, web.Response) else None

    # --- session ------------------------------------------------------------------------------

    def expire_sessions(self) -> bool:
        """End every session issued so far, as Samco does at its daily expiry (the clock stays)."""
        self._lapsed.update(self.issued)
        return True

    async def session_token(self, request: web.Request) -> web.Response:
        try:
            creds = w.decode_session_request(await request.read())
        except msgspec.MsgspecError:
            return self._failure(400, "apiKey and apiSecret are required")
        if self.login_gate is not None:
            await self.login_gate.wait()
        if not hmac.compare_digest(creds.apiKey, self.api_key):
            return self._failure(401, "Invalid API key", "EOAUTH001")
        if not hmac.compare_digest(creds.apiSecret, self.api_secret):
            return self._failure(401, "Invalid API secret", "EOAUTH008")
        if self.login_ip_check and request.remote not in self.registered_ips:
            return self._failure(403, "Login is not allowed from an IP that is not registered", "EOAUTH009")
        now = self.clock.now_ns()
        expires = session_expiry_ns(now) if self.expiry_rule == "next_day" else next_eight_ns(now)
        jti = uuid.uuid4().hex
        token = jwt.encode({"sub": OWNER, "iat": now // NS, "exp": expires // NS, "jti": jti}, self.jwt_secret)
        self.logins += 1
        self.issued.append(jti)
        primary, secondary = self._registered()
        return reply(
            w.LoginReply(
                **self._ok("Session token generated successfully"), sessionToken=token,
                validity=datetime.fromtimestamp(expires // NS, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                tokenId=jti, accountID=OWNER, accountName="Demo Account", exchangeList=["NSE", "BSE", "NFO"],
                orderTypeList=list(ORDER_TYPES), productList=["CNC", "MIS", "NRML"], srcIp=request.remote or "",
                primaryIp=primary, secondaryIp=secondary,
            )
        )

    async def whoami(self, request: web.Request) -> web.Response:
        primary, secondary = self._registered()
        ip = request.remote or ""
        matched = "primary" if ip == primary else "secondary" if ip == secondary and ip else ""
        return reply(
            w.WhoAmI(
                **self._ok("IP details"), srcIp=ip, primaryIp=primary, secondaryIp=secondary, matches=bool(matched),
                matchedAs=matched, data=w.WhoAmIData(ip=ip, registered=bool(matched)),
            )
        )

    async def logout(self, request: web.Request) -> web.Response:
        self._revoked.add(str(request[CLAIMS].get("jti")))
        return reply(w.Envelope(**self._ok("User has successfully logged out")))

    def _failure(self, status: int, message: str, code: str | None = None) -> web.Response:
        return failure(status, message, code, self.clock.now_ns())

    def _ok(self, message: str) -> dict[str, Any]:
        """The success envelope's fields."""
        return {"serverTime": server_time(self.clock.now_ns()), "msgId": str(uuid.uuid4()), "status": "Success", "statusMessage": message}

    def _registered(self) -> tuple[str, str]:
        ips = self.registered_ips
        return (ips[0] if ips else "", ips[1] if len(ips) > 1 else "")
