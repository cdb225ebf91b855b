"""GOPAX signing: the current scheme, the seed's (legacy) scheme, the websocket login, and nonces.

Both schemes sign base64(HMAC-SHA512(base64decode(secret), prehash)):
- current: headers `api-key`, `timestamp`, `signature`; prehash 't' + timestamp + METHOD + path
  [+ receive-window] + body, where `GET /orders` signs its query string as part of the path;
- legacy (the seed): headers `API-KEY`, `SIGNATURE`, `NONCE`; prehash nonce + METHOD + path + body,
  the path without its query string (the seed's code splits it off). Nonces must only grow, so they
  come from a `NonceSource`, which persists its high-water mark and survives restarts.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from engine.errors import UserError

Scheme = Literal["current", "legacy"]
Clock = Callable[[], int]  # milliseconds since the epoch


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def secret_key(secret: str) -> bytes:
    """The raw HMAC key: the issued secret is base64."""
    try:
        return base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        raise UserError("gopax: the secret is not valid base64") from None


def sign(key: bytes, message: str) -> str:
    """base64(HMAC-SHA512(key, message))."""
    return base64.b64encode(hmac.new(key, message.encode(), hashlib.sha512).digest()).decode()


def signed_path(method: str, path: str, query: str) -> str:
    """The path as the current scheme signs it: only `GET /orders` includes its query string."""
    if query and method == "GET" and path == "/orders":
        return f"{path}?{query}"
    return path


def current_prehash(
    timestamp: str, method: str, path: str, query: str, body: str, receive_window: str = ""
) -> str:
    return f"t{timestamp}{method}{signed_path(method, path, query)}{receive_window}{body}"


def legacy_prehash(nonce: str, method: str, path: str, body: str) -> str:
    return f"{nonce}{method}{path}{body}"


class NonceSource:
    """Strictly increasing nonces (milliseconds, or last + 1 when called faster).

    The high-water mark is written ahead in blocks (`reserve` nonces at a time), so a restarted
    process starts above every nonce the previous one could have used, whatever the clock says.
    Calls are synchronous: concurrent tasks on one loop each get a distinct, larger value.

    The file is never written on the event loop in the normal course: `prepare()` loads it and
    reserves the first block in a thread, and once half of the durable block is used the next one
    is written in a thread while the rest of the current block is still being handed out. Only a
    caller that outruns a whole block before its write lands writes synchronously (atomically, as
    always: a temporary file, then a rename).
    """

    def __init__(self, path: Path | None = None, *, reserve: int = 10_000, now_ms: Clock = _now_ms) -> None:
        self.path = path
        self.reserve = reserve
        self._now_ms = now_ms
        self._durable = 0  # the mark on disk: nonces up to it survive a restart
        self._last = 0
        self._loaded = False
        self._writing: asyncio.Future[None] | None = None
        self._lock = threading.Lock()  # one writer at a time, and never a lower mark after a higher
        self._written = 0
        self.sync_writes = 0  # writes that had to block the caller

    async def prepare(self) -> None:
        """Load the mark and reserve a first block, off the event loop."""
        await asyncio.to_thread(self._load_and_reserve)

    def _load_and_reserve(self) -> None:
        if not self._loaded:
            self._load()
        self._reserve_sync(max(self._last, self._now_ms()) + self.reserve)

    def _load(self) -> None:
        self._loaded = True
        mark = 0
        if self.path is not None and self.path.exists():
            text = self.path.read_text(encoding="ascii").strip()
            mark = int(text) if text.isdigit() else 0
        self._durable = self._last = max(self._last, mark)

    def next(self) -> int:
        if not self._loaded:
            self._load()
        value = max(self._last + 1, self._now_ms())
        self._last = value
        if self.path is None:
            return value  # nothing to survive a restart with
        if value > self._durable:
            self.sync_writes += 1
            self._reserve_sync(value + self.reserve)  # outran the block: the mark must land first
        elif value > self._durable - self.reserve // 2 and self._writing is None:
            self._reserve_ahead(value + self.reserve)
        return value

    def _reserve_sync(self, ceiling: int) -> None:
        self._store(ceiling)
        self._durable = max(self._durable, ceiling)

    def _reserve_ahead(self, ceiling: int) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a script, a test): just write
            self._reserve_sync(ceiling)
            return
        future = loop.run_in_executor(None, self._store, ceiling)
        self._writing = future

        def landed(done: asyncio.Future[None]) -> None:
            self._writing = None
            if not done.cancelled() and done.exception() is None:
                self._durable = max(self._durable, ceiling)

        future.add_done_callback(landed)

    def _store(self, ceiling: int) -> None:
        if self.path is None:
            return
        with self._lock:
            if ceiling <= self._written:
                return  # a higher mark landed meanwhile
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(str(ceiling), encoding="ascii")
            os.replace(tmp, self.path)  # atomic: a crash leaves the old mark or the new one
            self._written = ceiling


class GopaxAuth:
    """Signs private REST requests and the websocket login for one API key."""

    def __init__(
        self,
        api_key: str,
        secret: str,
        *,
        scheme: Scheme = "current",
        nonces: NonceSource | None = None,
        receive_window_ms: int | None = None,
        now_ms: Clock = _now_ms,
    ) -> None:
        if not api_key:
            raise UserError("gopax: an api_key is needed for private requests")
        self.api_key = api_key
        self.scheme = scheme
        self._key = secret_key(secret)
        self._nonces = nonces or NonceSource(now_ms=now_ms)
        self._window = "" if receive_window_ms is None else str(receive_window_ms)
        self._now_ms = now_ms

    def headers(self, method: str, path: str, query: str, body: bytes) -> dict[str, str]:
        """Auth headers for one attempt; `path` without its query, `body` the exact bytes sent."""
        text = body.decode() if body else ""
        if self.scheme == "legacy":
            nonce = str(self._nonces.next())
            return {
                "API-KEY": self.api_key,
                "SIGNATURE": sign(self._key, legacy_prehash(nonce, method, path, text)),
                "NONCE": nonce,
            }
        timestamp = str(self._now_ms())
        headers = {
            "api-key": self.api_key,
            "timestamp": timestamp,
            "signature": sign(self._key, current_prehash(timestamp, method, path, query, text, self._window)),
        }
        if self._window:
            headers["receive-window"] = self._window
        return headers

    def ws_params(self) -> dict[str, str]:
        """The websocket login query: apiKey, timestamp (ms) and the signature of 't' + timestamp."""
        timestamp = str(self._now_ms())
        return {"apiKey": self.api_key, "timestamp": timestamp, "signature": sign(self._key, f"t{timestamp}")}
