"""The `bus: {nats: ...}` block: where the NATS server is, which streams the split uses, and the
client's auth and TLS options, passed through to nats-py."""

from __future__ import annotations

import re
import ssl
from typing import Annotated, Any

import msgspec

from engine.log import register_secret

Positive = msgspec.Meta(gt=0)
_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
_SCHEMES = ("nats://", "tls://", "ws://", "wss://")


class TlsConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Client TLS: a CA to trust, a client certificate for mutual TLS, the name to verify."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    hostname: str | None = None
    handshake_first: bool = False


class NatsConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    url: str | list[str] = "nats://127.0.0.1:4222"
    # The prefix of every subject and the stem of the two JetStream streams (`<stream>_CMD`,
    # `<stream>_EVT`): two splits on one server keep apart by it.
    stream: str = "tickbus"
    name: str | None = None  # the connection's name, as the server's monitoring shows it
    user: str | None = None
    password: str | None = None
    token: str | None = None
    creds_file: str | None = None  # a NATS .creds file (JWT and NKey seed)
    nkeys_seed_file: str | None = None
    tls: TlsConfig | None = None
    connect_timeout_s: Annotated[float, Positive] = 5.0
    reconnect_wait_s: Annotated[float, Positive] = 1.0
    publish_timeout_s: Annotated[float, Positive] = 2.0
    # Order commands a strategy host could not get accepted by JetStream within this many
    # seconds are refused back to the strategy (a rejected order), never dropped silently.
    command_deadline_s: Annotated[float, Positive] = 30.0
    core_check_s: Annotated[float, Positive] = 2.0  # how often a strategy host asks whether core answers
    duplicate_window_s: Annotated[float, Positive] = 600.0  # JetStream's de-duplication window
    events_max_age_s: Annotated[float, Positive] = 7 * 86400.0  # how long order events are kept
    storage: str = "file"  # "file" or "memory"


class BusConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    nats: NatsConfig | None = None


def check_nats(cfg: NatsConfig) -> tuple[str, str] | None:
    """The first mistake in the block as (field, message), or None."""
    urls = [cfg.url] if isinstance(cfg.url, str) else cfg.url
    if not urls:
        return "url", "give at least one server URL"
    for url in urls:
        if not url.startswith(_SCHEMES):
            return "url", f"expected nats://, tls://, ws:// or wss:// URL, got {url!r}"
    if not _NAME.fullmatch(cfg.stream):
        return "stream", f"expected 1-32 characters of letters, digits, '_' or '-', got {cfg.stream!r}"
    if cfg.storage not in ("file", "memory"):
        return "storage", f"expected one of 'file', 'memory', got {cfg.storage!r}"
    if cfg.password is not None and cfg.user is None:
        return "password", "a password needs a user"
    if cfg.tls is not None and (cfg.tls.cert_file is None) != (cfg.tls.key_file is None):
        return "tls", "cert_file and key_file go together"
    return None


def register_nats_secrets(cfg: NatsConfig | None) -> None:
    if cfg is not None:
        for value in (cfg.password, cfg.token):
            if value:
                register_secret(value)


def connect_options(cfg: NatsConfig) -> dict[str, Any]:
    """nats-py `connect()` keyword arguments for this block (reconnecting forever)."""
    options: dict[str, Any] = {
        "servers": cfg.url,
        "name": cfg.name,
        "connect_timeout": cfg.connect_timeout_s,
        "reconnect_time_wait": cfg.reconnect_wait_s,
        "max_reconnect_attempts": -1,
        "allow_reconnect": True,
    }
    if cfg.user is not None:
        options["user"] = cfg.user
        options["password"] = cfg.password
    if cfg.token is not None:
        options["token"] = cfg.token
    if cfg.creds_file is not None:
        options["user_credentials"] = cfg.creds_file
    if cfg.nkeys_seed_file is not None:
        options["nkeys_seed"] = cfg.nkeys_seed_file
    if cfg.tls is not None:
        options["tls"] = _ssl_context(cfg.tls)
        options["tls_hostname"] = cfg.tls.hostname
        options["tls_handshake_first"] = cfg.tls.handshake_first
    return options


def _ssl_context(tls: TlsConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=tls.ca_file)
    if tls.cert_file is not None:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    return context
