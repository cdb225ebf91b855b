"""GoPocket's session: the vendor SSO's checksum exchanged for a userSession, kept in a 0600 file.

The seed's flow: the user logs in at `<login_url>?appcode=<appCode>` and comes back to the vendor's
redirect URL with `authCode` and `userId`; `checkSum = sha256_hex(userId + authCode + apiSecret)` is
posted as `{"checkSum": ...}` to getUserDetails, which answers the session (the SDK reads
`result[0].accessToken`, or `userSession` in the older `stat` form). Every call then carries
`Authorization: Bearer <session>`. GoPocket documents no expiry and no refresh: a session works
until the venue refuses it.

Where the session comes from, first found wins: the config's `session_token` (a ${VAR}); the file
`run.py login` stored (if it is this user's); an exchange of the config's `auth_code` (a ${VAR},
headless use; the new session is stored). A refused session (401) is dropped (and its file
removed); the next call exchanges `auth_code` again when there is one - not again when the new
session is refused before any call has worked with it - else raises one AuthError saying how to log in again. The session and
the secrets are registered with the log's redaction and never written to a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog

from engine.errors import AuthError, VenueError
from engine.log import register_secret

log = structlog.get_logger("tickbus.gopocket.session")
LOGIN_HINT = "log in again with: python run.py login gopocket {config}"


def checksum(user_id: str, auth_code: str, api_secret: str) -> str:
    """SHA-256 hex of userId + authCode + apiSecret (the seed's checkSum)."""
    return hashlib.sha256(f"{user_id}{auth_code}{api_secret}".encode()).hexdigest()


class SessionStore:
    """One user's session in a file only its owner can read (0600), written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self, user_id: str) -> str | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or str(data.get("userId", "")).upper() != user_id.upper():
            return None
        token = data.get("userSession")
        return token if isinstance(token, str) and token else None

    def store(self, user_id: str, token: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"userId": user_id.upper(), "userSession": token, "stored": int(time.time())}, out)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()


Exchange = Callable[[str], Awaitable[str]]  # checkSum -> userSession


class GopocketSession:
    """The userSession every call sends, and what to do when the venue refuses it."""

    def __init__(
        self,
        venue: str,
        exchange: Exchange,
        *,
        user_id: str,
        api_secret: str,
        auth_code: str = "",
        session_token: str = "",
        store: SessionStore | None = None,
        config_file: str = "CONFIG",
    ) -> None:
        self.venue = venue
        self.user_id = user_id.upper()
        self.exchanges = 0
        self.refusals = 0
        self.known: set[str] = set()  # every session this run used (webhook deliveries may carry one)
        self._exchange = exchange
        self._secret = api_secret
        self._auth_code = auth_code
        self._given = session_token
        self._store = store
        self._hint = LOGIN_HINT.format(config=config_file or "CONFIG")
        self._token: str | None = None
        self._proven: set[str] = set()  # sessions a call has succeeded with
        self._fresh: str | None = None  # the last exchanged session, until a call succeeds with it
        self._stuck = False
        self._told = False  # the how-to-log-in line was logged
        self._lock = asyncio.Lock()
        for secret in (api_secret, auth_code, session_token):
            register_secret(secret)

    @property
    def current(self) -> str | None:
        return self._token

    async def token(self) -> str:
        """The session to send now (obtained on first use)."""
        token = self._token
        if token is not None:
            return token
        async with self._lock:
            if self._token is None:
                self._use(await self._obtain())
            assert self._token is not None
            return self._token

    def rejected(self, token: str) -> None:
        """The venue answered 401 to `token`: it is dead."""
        self.refusals += 1
        if token != self._token:
            return
        if token == self._fresh and token not in self._proven:
            self._stuck = True  # exchanged and refused at once: do not exchange again in a loop
        self._token = None
        if token == self._given:
            self._given = ""
        if self._store is not None and self._store.load(self.user_id) == token:
            self._store.remove()
        log.warning("session refused by the venue", venue=self.venue, renew=bool(self._auth_code))

    def worked(self, token: str) -> None:
        """A call with `token` succeeded."""
        if token not in self._proven:
            self._proven.add(token)
            self._stuck = False

    async def exchange_code(self, auth_code: str) -> str:
        """Exchange an authCode for a session now (run.py login), stored and used from now on."""
        async with self._lock:
            token = await self._exchange(checksum(self.user_id, auth_code, self._secret))
            self.exchanges += 1
            self._stuck = False
            self._use(token)
            if self._store is not None:
                self._store.store(self.user_id, token)
            return token

    # --- internals ----------------------------------------------------------------------------

    def _ended(self, text: str) -> AuthError:
        """The session cannot be had without the user: said once in the log (every call that needs
        it raises the same one-line error)."""
        if self.refusals and not self._told:
            self._told = True
            log.error(text, venue=self.venue)
        return AuthError(self.venue, text)

    def _use(self, token: str) -> None:
        register_secret(token)
        self.known.add(token)
        self._token = token

    async def _obtain(self) -> str:
        if self._given:
            return self._given
        if self._store is not None:
            stored = await asyncio.to_thread(self._store.load, self.user_id)
            if stored is not None:
                return stored
        if not self._auth_code or not self._secret:
            raise self._ended(f"no GoPocket session for {self.user_id or 'this user'}: {self._hint}")
        if self._stuck:
            raise self._ended(f"a new session was refused before it ever worked; {self._hint}")
        try:
            token = await self._exchange(checksum(self.user_id, self._auth_code, self._secret))
        except VenueError as exc:
            raise self._ended(f"the session exchange was refused ({exc.text}); {self._hint}") from None
        self.exchanges += 1
        self._fresh = token
        if self._store is not None:
            await asyncio.to_thread(self._store.store, self.user_id, token)
        log.info("session obtained", venue=self.venue, user=self.user_id, exchanges=self.exchanges)
        return token
