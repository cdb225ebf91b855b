"""smallcase Gateway auth: the user's JWT (guest or connected), the x-gateway-secret header, and the
postback checksum.

- The auth token is an HS256 JWT signed with the gateway `secret`: `{"guest": true, "exp"}` for a
  guest, `{"smallcaseAuthId": id, "exp"}` for a connected user. It is made on the partner's server
  only, on the fly, with a short expiry (`ttl_s`), and reused until half of its life is gone.
  `exp` is wall-clock time (the gateway's clock); the adapter passes the engine's clock instead
  only when the gateway is emulated, whose clock starts at the run's `start:` by design.
- Every API call carries `x-gateway-secret: <api secret>` and `x-gateway-authtoken: <JWT>`.
- Postbacks carry HMAC-SHA256 (hex) with the api secret, in one of two schemes (see feed.py).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

from engine.errors import UserError
from engine.venue import jwt

SECRET_HEADER = "x-gateway-secret"
TOKEN_HEADER = "x-gateway-authtoken"
CHECKSUM_HEADER = "x-gateway-checksum"


def _now_s() -> float:
    return time.time()


def guest_payload(exp: int) -> dict[str, Any]:
    return {"guest": True, "exp": exp}


def connected_payload(auth_id: str, exp: int) -> dict[str, Any]:
    return {"smallcaseAuthId": auth_id, "exp": exp}


def checksum(api_secret: str, data: bytes) -> str:
    """hex(HMAC-SHA256(api secret, data)): how a postback proves it comes from the gateway."""
    return hmac.new(api_secret.encode(), data, hashlib.sha256).hexdigest()


def checksum_ok(api_secret: str, data: bytes, given: str) -> bool:
    """Whether `given` is the checksum of `data`. Compared as bytes: a checksum with non-ASCII
    characters (or lone surrogates from a JSON string) is simply wrong, never an exception."""
    expected = checksum(api_secret, data).encode("ascii")
    return hmac.compare_digest(expected, given.strip().lower().encode("utf-8", "replace"))


class GatewayAuth:
    """Makes the auth token and the headers of every API call for one gateway."""

    def __init__(
        self,
        secret: str,
        api_secret: str,
        *,
        auth_id: str | None = None,
        ttl_s: float = 120.0,
        now_s: Callable[[], float] = _now_s,
    ) -> None:
        if not secret or not api_secret:
            raise UserError("smallcase: both `secret` (JWT) and `api_secret` (x-gateway-secret) are needed")
        if ttl_s <= 0:
            raise UserError(f"smallcase: token_ttl_s must be positive, got {ttl_s:g}")
        self.api_secret = api_secret
        self.auth_id = auth_id
        self.ttl_s = ttl_s
        self._secret = secret
        self._now_s = now_s
        self._token = ""
        self._renew_at = 0.0

    def token(self) -> str:
        """The current auth token; a fresh one once half of the last one's life is gone."""
        now = self._now_s()
        if not self._token or now >= self._renew_at:
            exp = int(now + self.ttl_s)
            payload = guest_payload(exp) if self.auth_id is None else connected_payload(self.auth_id, exp)
            self._token = jwt.encode(payload, self._secret)
            self._renew_at = now + self.ttl_s / 2
        return self._token

    def headers(self) -> dict[str, str]:
        return {SECRET_HEADER: self.api_secret, TOKEN_HEADER: self.token()}
