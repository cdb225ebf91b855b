"""HS256 JSON Web Tokens: make and verify, with `exp`. Venues sign sessions and auth tokens with it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

_HEADER = {"alg": "HS256", "typ": "JWT"}


class JwtError(ValueError):
    """A token that is malformed, signed with another secret, or expired."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason  # malformed | bad_signature | expired | unsupported
        super().__init__(message)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(payload: dict[str, Any], secret: str | bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    head = _b64(json.dumps(_HEADER, separators=(",", ":")).encode())
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    signature = hmac.new(key, f"{head}.{body}".encode("ascii"), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(signature)}"


def decode(token: str, secret: str | bytes, *, now_s: float | None = None, leeway_s: float = 0.0) -> dict[str, Any]:
    """The payload of a valid token; `now_s` (epoch seconds) checks `exp` when given: a token is
    expired from the instant `exp` on (RFC 7519 4.1.4: valid only while now < exp), `leeway_s` later."""
    key = secret.encode() if isinstance(secret, str) else secret
    parts = token.split(".")
    if len(parts) != 3:
        raise JwtError("malformed", "a JWT has three dot-separated parts")
    head_b64, body_b64, sig_b64 = parts
    try:
        header = json.loads(_unb64(head_b64))
        payload = json.loads(_unb64(body_b64))
        signature = _unb64(sig_b64)
    except (ValueError, UnicodeDecodeError) as exc:
        raise JwtError("malformed", f"undecodable JWT: {exc}") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise JwtError("unsupported", f"unsupported JWT algorithm {header.get('alg') if isinstance(header, dict) else header!r}")
    expected = hmac.new(key, f"{head_b64}.{body_b64}".encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise JwtError("bad_signature", "JWT signature does not match")
    if not isinstance(payload, dict):
        raise JwtError("malformed", "JWT payload is not an object")
    exp = payload.get("exp")
    if now_s is not None and exp is not None:
        if not isinstance(exp, (int, float)):
            raise JwtError("malformed", "JWT exp is not a number")
        if now_s >= exp + leeway_s:
            raise JwtError("expired", "JWT has expired")
    return payload
