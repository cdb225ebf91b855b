"""Firstock's session: POST /V1/login gives a `susertoken`, the jKey every later JSON body carries.

The login body is the user id, the SHA-256 hex of the plain password, a TOTP, the vendor code and
the API key. The TOTP is the user's code (good for one login) or made from the base32 secret of
their authenticator (RFC 6238, by pyotp) at the engine clock's time, so renewals need nobody.

The session is a small state machine:

    logged_out -> logging_in -> live -> expired -> logging_in -> live ...
                                 live -> logged_out                      (logout on stop)

A jKey expires at the venue's daily roll-over (`session_end`, IST) or when the venue refuses it
(`rejected`). Every caller asks `token()`; while a login is in flight callers wait for it, so an
order placed as the session rolls over waits a moment instead of failing. One login runs at a time.
A refused login (bad password, stale TOTP, unknown vendor code) is raised, and no new login is tried
for `retry_s`: a wrong secret never makes a loop of logins.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta

import pyotp
import structlog
from msgspec import Struct

from adapters.firstock import schemas as w
from adapters.india import IST, ist_date, to_ist, to_ns
from engine.errors import AuthError, VenueError
from engine.log import register_secret

log = structlog.get_logger("tickbus.firstock.session")
NS = 1_000_000_000


class SessionState(enum.StrEnum):
    LOGGED_OUT = "logged_out"
    LOGGING_IN = "logging_in"
    LIVE = "live"
    EXPIRED = "expired"


def password_hash(plain: str) -> str:
    """What Firstock takes as `password`: the lower-case SHA-256 hex of the plain password."""
    return hashlib.sha256(plain.encode()).hexdigest()


def totp_code(secret: str, now_ns: int) -> str:
    """The RFC 6238 code (30 s steps, six digits) of a base32 secret at `now_ns`."""
    return str(pyotp.TOTP(secret.replace(" ", "").upper()).at(now_ns // NS))


def parse_session_end(value: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"session_end must be HH:MM (IST), got {value!r}") from None


def next_session_end(issued_ns: int, at: time) -> int:
    """The first `at` IST after `issued_ns`: when a jKey issued then rolls over."""
    day = ist_date(issued_ns)
    end = to_ns(datetime.combine(day, at, IST))
    return end if end > issued_ns else to_ns(datetime.combine(day + timedelta(days=1), at, IST))


class Credentials(Struct, kw_only=True):
    user_id: str
    password: str
    vendor_code: str
    api_key: str
    totp: str = ""
    totp_secret: str = ""

    def login_request(self, now_ns: int) -> w.LoginRequest:
        code = totp_code(self.totp_secret, now_ns) if self.totp_secret else self.totp
        return w.LoginRequest(
            userId=self.user_id, password=password_hash(self.password), TOTP=code,
            vendorCode=self.vendor_code, apiKey=self.api_key,
        )


Login = Callable[[w.LoginRequest], Awaitable[w.LoginReply]]
Logout = Callable[[str], Awaitable[object]]


class FirstockSession:
    """The jKey of one user and its renewals; `now_ns` is the clock the roll-over is read on."""

    def __init__(
        self,
        venue: str,
        login: Login,
        credentials: Credentials,
        *,
        now_ns: Callable[[], int],
        session_end: time = time(3, 0),
        retry_s: float = 30.0,
    ) -> None:
        self.venue = venue
        self.credentials = credentials
        self.session_end = session_end
        self.retry_s = retry_s
        self.state = SessionState.LOGGED_OUT
        self.history: deque[SessionState] = deque([self.state], maxlen=64)
        self.logins = 0
        self.failures = 0
        self.rejections = 0
        self.account = ""
        self._login = login
        self._now = now_ns
        self._jkey: str | None = None
        self._expires_ns = 0
        self._pending: asyncio.Task[str] | None = None
        self._failed: tuple[int, VenueError] | None = None  # (when, why) of the last refused login

    @property
    def expires_ns(self) -> int:
        return self._expires_ns

    @property
    def user_id(self) -> str:
        return self.credentials.user_id

    async def start(self) -> None:
        """Log in now (a refusal raises AuthError here)."""
        await self.token()

    async def token(self) -> str:
        """A jKey to send now; waits while a login is in flight."""
        if self._pending is None and self._jkey is not None and self.state is SessionState.LIVE:
            if self._now() < self._expires_ns:
                return self._jkey
            self._set(SessionState.EXPIRED)
            log.info("session rolled over", venue=self.venue)
        return await self._logged_in()

    def rejected(self, jkey: str) -> None:
        """The venue refused `jkey`: it is dead, whatever its roll-over time said."""
        self.rejections += 1
        if jkey == self._jkey and self.state is SessionState.LIVE:
            self._failed = None  # the venue asked for a new login: no waiting out a refusal
            self._set(SessionState.EXPIRED)

    async def stop(self, logout: Logout | None = None) -> None:
        """Log out (when live and given how), then forget the jKey."""
        task, self._pending = self._pending, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        jkey, live = self._jkey, self.state is SessionState.LIVE
        self._jkey = None
        self._set(SessionState.LOGGED_OUT)
        if logout is not None and jkey is not None and live:
            try:
                await logout(jkey)
            except VenueError as exc:
                log.warning("logout failed", venue=self.venue, error=str(exc))

    # --- internals ----------------------------------------------------------------------------

    async def _logged_in(self) -> str:
        task = self._pending
        if task is None:
            failed = self._failed
            if failed is not None and self._now() - failed[0] < self.retry_s * NS:
                raise failed[1]  # refused a moment ago: do not hammer the login
            task = self._pending = asyncio.get_running_loop().create_task(self._login_once())
            task.add_done_callback(self._login_done)
        return await asyncio.shield(task)

    async def _login_once(self) -> str:
        self._set(SessionState.LOGGING_IN)
        issued = self._now()
        try:
            reply = await self._login(self.credentials.login_request(issued))
            data = reply.data
            if reply.failed or data is None or not data.susertoken:
                raise AuthError(self.venue, f"login refused: {reply.reason or 'no susertoken'}", code=reply.code or None)
        except VenueError as exc:
            self.failures += 1
            self._failed = (self._now(), self._explained(exc))
            self._set(SessionState.EXPIRED if self._jkey is not None else SessionState.LOGGED_OUT)
            log.warning("login failed", venue=self.venue, error=str(exc))
            raise self._failed[1] from None
        register_secret(data.susertoken)
        self._jkey, self._failed = data.susertoken, None
        self._expires_ns = next_session_end(issued, self.session_end)
        self.logins += 1
        self.account = data.actid
        self._set(SessionState.LIVE)
        log.info("session live", venue=self.venue, expires=to_ist(self._expires_ns).isoformat(), logins=self.logins)
        return data.susertoken

    def _explained(self, exc: VenueError) -> VenueError:
        """A refused renewal made with a one-time TOTP code says what would fix it."""
        if self.logins and not self.credentials.totp_secret and isinstance(exc, AuthError):
            return AuthError(self.venue, f"{exc.text} (a TOTP code works for one login: set totp_secret "
                             "so the engine can log in again by itself)", code=exc.code, http_status=exc.http_status)
        return exc

    def _login_done(self, task: asyncio.Task[str]) -> None:
        if self._pending is task:
            self._pending = None
        if not task.cancelled():
            task.exception()  # retrieved here: every waiter may have gone

    def _set(self, state: SessionState) -> None:
        if state is not self.state:
            self.state = state
            self.history.append(state)
