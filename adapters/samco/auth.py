"""Samco's session: POST /session/token gives a JWT, sent as `x-session-token`, valid until 08:00 IST.

The session is a small state machine:

    authenticating -> active -> expiring -> active      (renewed `renew_before_s` ahead of expiry)
                      active -> expired  -> active      (the clock passed the expiry, or a 401)

Every request asks `token()`. While a renewal is in flight callers wait for it, so an order placed at
07:59:59 waits a moment instead of failing. One renewal runs at a time. A renewal that fails while the
old token still works keeps the old token and is tried again `retry_s` later; once the token has
expired the failure is raised, and no new login is tried for `retry_s`: a refusal (a bad secret) is
never retried in a loop.

Renewal is planned `renew_before_s` ahead of the expiry, and never sooner than halfway through
what is left. A renewal that does not move the expiry later (a venue that reads "valid until 08:00"
as 08:00 of the same day, answering 07:50's login with the same 08:00) would only be repeated ever
faster; then the next renewal waits for the expiry itself. And however short-lived the tokens a
venue hands out, logins never come closer together than `min_login_interval_s`: a token that has
expired sooner than that is refused with AuthError until the interval has passed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import enum
import json
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta

import structlog

from adapters.india import IST, ist_date, to_ist, to_ns
from adapters.samco.schemas import LoginReply, ist_ns
from engine.errors import AuthError, VenueError
from engine.log import register_secret
from engine.venue.values import MAX_EPOCH_S

log = structlog.get_logger("tickbus.samco.session")
NS = 1_000_000_000
EXPIRY_TIME = time(8, 0)  # IST


class SessionState(enum.StrEnum):
    AUTHENTICATING = "authenticating"
    ACTIVE = "active"
    EXPIRING = "expiring"
    EXPIRED = "expired"


def session_expiry_ns(issued_ns: int) -> int:
    """08:00 IST of the calendar day after the (IST) day the token was issued: the seed's rule."""
    day = ist_date(issued_ns) + timedelta(days=1)
    return to_ns(datetime.combine(day, EXPIRY_TIME, IST))


def jwt_claim_ns(token: str, claim: str) -> int | None:
    """A time claim ("exp", "iat") of a JWT, read without verifying (the server verifies); None when
    it is missing or is no time in epoch seconds."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    value = payload.get(claim) if isinstance(payload, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_EPOCH_S:
        return None  # no time (NaN, Infinity, 1e400 and true parse as JSON numbers): as if the claim were absent
    return int(value * NS)


def expiry_of(reply: LoginReply, issued_ns: int) -> int:
    """When a new token stops working, on our clock.

    The server's expiry is `validity`, else the JWT's `exp`; its "now" is `serverTime`, else the
    JWT's `iat`. With both, the token lives that long from `issued_ns`, whatever the skew between
    the clocks; with the expiry alone, it is taken as is; with neither, the 08:00 rule on our clock.
    """
    expires: int | None = None
    if reply.validity:
        with contextlib.suppress(ValueError):
            expires = to_ns(datetime.fromisoformat(reply.validity.replace("Z", "+00:00")))
    expires = expires or jwt_claim_ns(reply.sessionToken, "exp")
    if expires is None:
        return session_expiry_ns(issued_ns)
    server_now = ist_ns(reply.serverTime) if reply.serverTime else None
    server_now = server_now or jwt_claim_ns(reply.sessionToken, "iat")
    return issued_ns + (expires - server_now) if server_now else expires


Login = Callable[[], Awaitable[LoginReply]]


class SamcoSession:
    """The token of one API key and its renewals; `now_ns` is the clock the expiry is read on."""

    def __init__(
        self,
        venue: str,
        login: Login,
        *,
        now_ns: Callable[[], int],
        renew_before_s: float = 600.0,
        check_s: float = 30.0,
        retry_s: float = 30.0,
        min_login_interval_s: float = 5.0,
    ) -> None:
        self.venue = venue
        self.renew_before_s = renew_before_s
        self.check_s = check_s
        self.retry_s = retry_s
        self.min_login_interval_s = min_login_interval_s
        self.state = SessionState.AUTHENTICATING
        self.history: deque[SessionState] = deque([self.state], maxlen=64)
        self.logins = 0
        self.failures = 0
        self.rejections = 0
        self.expiries = 0  # times the session expired (by its clock, or a token the venue refused)
        self.account = ""
        self._login = login
        self._now = now_ns
        self._token: str | None = None
        self._expires_ns = 0
        self._renew_at = 0
        self._last_login_ns: int | None = None
        self._renewal: asyncio.Task[str] | None = None
        self._failed: tuple[int, VenueError] | None = None  # (when, why) of the last failed login
        self._watcher: asyncio.Task[None] | None = None

    @property
    def expires_ns(self) -> int:
        return self._expires_ns

    async def start(self) -> None:
        """Log in (a refused key raises AuthError here), then renew in the background."""
        await self.token()
        if self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(self._watch(), name=f"session:{self.venue}")

    async def stop(self) -> None:
        for task in (self._watcher, self._renewal):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        self._watcher = self._renewal = None

    async def token(self) -> str:
        """A token to send now; waits while a renewal is in flight."""
        if self._renewal is not None:
            return await self._renewed()
        now = self._now()
        if self._token is None or now >= self._expires_ns:
            return await self._renewed()
        if now >= self._renew_at:
            return await self._renewed()
        return self._token

    def rejected(self, token: str) -> None:
        """The venue answered 401 to `token`: it is dead, whatever its expiry said."""
        self.rejections += 1
        if token == self._token:
            self._last_login_ns = None  # a renewal the venue asked for: the login interval does not apply
        if token == self._token and self._expires_ns > self._now():
            self._expires_ns = self._now()
            self._set(SessionState.EXPIRED)

    # --- internals ----------------------------------------------------------------------------

    async def _renewed(self) -> str:
        task = self._renewal
        if task is None:
            failed = self._failed
            if failed is not None and self._now() - failed[0] < self.retry_s * NS and not self._usable():
                raise failed[1]  # refused a moment ago: do not hammer the login
            last = self._last_login_ns
            if last is not None and self._now() - last < self.min_login_interval_s * NS:
                if self._usable():
                    assert self._token is not None
                    return self._token
                raise AuthError(
                    self.venue,
                    f"the session token expired within {self.min_login_interval_s:g}s of its login; "
                    "not logging in again so soon",
                )
            task = self._renewal = asyncio.get_running_loop().create_task(self._login_once())
            task.add_done_callback(self._renewal_done)
        try:
            return await asyncio.shield(task)
        except VenueError:
            if self._usable():
                assert self._token is not None
                return self._token  # the old token still works; renewal is tried again later
            raise

    def _usable(self) -> bool:
        return self._token is not None and self._now() < self._expires_ns

    async def _login_once(self) -> str:
        if self._token is None:
            self._set(SessionState.AUTHENTICATING)
        else:
            self._set(SessionState.EXPIRING if self._usable() else SessionState.EXPIRED)
        issued = self._now()
        try:
            reply = await self._login()
            if not reply.sessionToken:
                raise AuthError(self.venue, f"no sessionToken in the login answer: {reply.statusMessage!r}")
        except VenueError as exc:
            self.failures += 1
            self._failed = (self._now(), exc)
            self._renew_at = self._now() + int(self.retry_s * NS)
            log.warning("session login failed", venue=self.venue, error=str(exc), state=str(self.state))
            raise
        token = reply.sessionToken
        register_secret(token)
        expires = expiry_of(reply, issued)
        if self._token is not None and expires - self._expires_ns < int(self.renew_before_s * NS):
            # the renewal bought (next to) no time - 08:00 read as today's: renewing again before
            # the expiry would only repeat it, faster and faster
            renew_at = expires
        else:
            # never sooner than halfway through what is left, so a short-lived token cannot start
            # a loop of logins
            renew_at = max(expires - int(self.renew_before_s * NS), issued + (expires - issued) // 2)
        self._renew_at = max(renew_at, self._now() + int(self.min_login_interval_s * NS))
        self._last_login_ns = self._now()
        self._token, self._expires_ns, self._failed = token, expires, None
        self.logins += 1
        self.account = reply.accountID
        self._set(SessionState.ACTIVE)
        log.info("session active", venue=self.venue, expires=to_ist(expires).isoformat(), logins=self.logins)
        return token

    def _renewal_done(self, task: asyncio.Task[str]) -> None:
        if self._renewal is task:
            self._renewal = None
        if not task.cancelled():
            task.exception()  # retrieved here: every waiter may have gone

    def _set(self, state: SessionState) -> None:
        if state is not self.state:
            self.state = state
            self.history.append(state)
            if state is SessionState.EXPIRED:
                self.expiries += 1

    async def _watch(self) -> None:
        """Renew ahead of expiry even when no request comes (an idle engine at 07:50)."""
        while True:
            wait = (self._renew_at - self._now()) / NS
            if wait > 0:
                await asyncio.sleep(min(wait, self.check_s))
                continue
            try:
                await self.token()
            except VenueError:
                await asyncio.sleep(self.check_s)
