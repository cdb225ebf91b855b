"""Logging: structlog to stderr, console for people or JSON for machines, secrets always redacted."""

from __future__ import annotations

import functools
import hashlib
import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog
from structlog.tracebacks import ExceptionDictTransformer

REDACTED = "***"
# Keys whose values are secrets wherever they appear (compared lower-case, '-' read as '_').
SECRET_KEYS = frozenset(
    {
        "api_key", "apikey", "api_secret", "apisecret", "secret", "secret_key", "client_secret",
        "gateway_secret", "x_gateway_secret", "token", "access_token", "refresh_token", "auth_token",
        "session_token", "sessiontoken", "x_session_token", "susertoken", "jkey", "password",
        "passwd", "pin", "totp", "signature", "authorization", "cookie", "checksum", "credentials",
        "smallcaseauthtoken", "x_gateway_authtoken", "usersession",
    }
)
_secret_values: set[str] = set()


def fingerprint(secret: str) -> str:
    """A short, non-reversible name for a key: for file names, limiter names and log lines."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def register_secret(value: str) -> None:
    """Redact this exact value from every log line from now on (config secrets call this)."""
    if value and len(value) >= 4:
        _secret_values.add(value)


# Key endings and parts that mark a secret too: `x-api-key`, `sessionToken`, `client_private_key`.
_SECRET_ENDINGS = ("api_key", "apikey", "secret", "token", "password", "passwd", "signature", "private_key")
_SECRET_PARTS = ("password", "passphrase", "secret")


@functools.lru_cache(maxsize=4096)
def _secret_name(name: str) -> bool:
    key = name.lower().replace("-", "_")
    return key in SECRET_KEYS or key.endswith(_SECRET_ENDINGS) or any(p in key for p in _SECRET_PARTS)


def is_secret_key(key: Any) -> bool:
    """Whether a field or header called `key` holds a secret (its value is never shown)."""
    return isinstance(key, str) and _secret_name(key)


_is_secret_key = is_secret_key


def scrub(value: Any) -> Any:
    """`value` with secret-keyed entries masked and registered secret values replaced."""
    return _scrub(value)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        for secret in _secret_values:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: REDACTED if _is_secret_key(k) else _scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_scrub(v) for v in value)
    return value


def redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: secret keys and registered secret values never reach a log line."""
    for key in list(event_dict):
        if _is_secret_key(key):
            event_dict[key] = REDACTED
        else:
            value = event_dict[key]
            if (_secret_values and isinstance(value, str)) or isinstance(value, (dict, list, tuple)):
                event_dict[key] = _scrub(value)
    return event_dict


def _redact_rendered(_logger: Any, _method: str, rendered: Any) -> Any:
    """Last line of defence: a secret inside an exception text or a repr is replaced too."""
    if isinstance(rendered, str) and _secret_values:
        for secret in _secret_values:
            rendered = rendered.replace(secret, REDACTED)
    return rendered


def configure(fmt: str = "console", level: str = "info", stream: TextIO | None = None) -> None:
    """Set up structlog once per process. `fmt` is "console" or "json"."""
    level_no = logging.getLevelNamesMapping().get(level.upper())
    if level_no is None:
        raise ValueError(f"unknown log level {level!r}")
    stream = stream or sys.stderr
    renderer: Any
    # Exceptions become data before `redact` runs, so their text is scrubbed like any value;
    # frame locals are never rendered (they hold keys and tokens, and truncated reprs of a secret
    # would slip past the value match).
    exc: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
        exc = structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False))
    elif fmt == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
        exc = structlog.processors.format_exc_info
    else:
        raise ValueError(f"unknown log format {fmt!r}")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            exc,
            redact,
            renderer,
            _redact_rendered,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        logger_factory=structlog.PrintLoggerFactory(stream),
        # Cached: a filtered-out debug call is then a no-op method, cheap enough for order paths.
        cache_logger_on_first_use=True,
    )
