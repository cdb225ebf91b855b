"""The `http:` and `alerts:` blocks of a run config."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from engine.log import register_secret

EventKind = Literal[
    "fill", "order_rejected", "strategy_stopped", "feed_stale", "session_expired", "kill_switch", "orders_left_open",
    "run_ended",
]
_DEFAULT_EVENTS: tuple[EventKind, ...] = (
    "order_rejected", "strategy_stopped", "feed_stale", "session_expired", "kill_switch", "orders_left_open", "run_ended",
)


class HttpConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The status page, its JSON, the controls and /metrics."""

    listen: str = "127.0.0.1:8080"
    # The bearer token the controls need. Unset: one is made at start and written to
    # `<state_dir>/http-token` (mode 0600), never logged.
    token: str | None = None
    push_s: Annotated[float, msgspec.Meta(gt=0)] = 1.0  # seconds between server-sent updates
    history_points: Annotated[int, msgspec.Meta(gt=0)] = 600  # PnL samples kept for the chart
    recent_fills: Annotated[int, msgspec.Meta(gt=0)] = 50


class TelegramConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    bot_token: str
    chat_id: str
    api_url: str = "https://api.telegram.org"
    events: list[EventKind] = msgspec.field(default_factory=lambda: list(_DEFAULT_EVENTS))


class WebhookConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    url: str
    events: list[EventKind] = msgspec.field(default_factory=lambda: list(_DEFAULT_EVENTS))
    headers: dict[str, str] = {}


class AlertsConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    telegram: TelegramConfig | None = None
    webhooks: list[WebhookConfig] = []
    queue_size: Annotated[int, msgspec.Meta(gt=0)] = 1000  # alerts waiting; beyond it they are dropped
    per_minute: Annotated[int, msgspec.Meta(gt=0)] = 20  # per destination
    retries: Annotated[int, msgspec.Meta(ge=0)] = 3
    backoff_s: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 10.0


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT` (or `:PORT`, 127.0.0.1 then) -> (host, port); ValueError with the reason."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    host = host.strip("[]") or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"port is not a number in {text!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port out of range in {text!r}")
    return host, port


def register_ops_secrets(http: HttpConfig | None, alerts: AlertsConfig | None) -> None:
    """The token, the bot token, and webhook URLs and headers never reach a log line."""
    if http is not None and http.token:
        register_secret(http.token)
    if alerts is None:
        return
    if alerts.telegram is not None:
        register_secret(alerts.telegram.bot_token)
    for hook in alerts.webhooks:
        register_secret(hook.url)
        for value in hook.headers.values():
            register_secret(value)
