"""The GoPocket venue's config block.

Credentials: `user_id` (the GoPocket client id), `app_code` and `api_secret` (the vendor app's, from
https://web.gopocket.in/developers/), and either an `auth_code` (from the SSO redirect, for headless
use) or a `session_token` (a userSession already obtained); all may come from `${VAR}`s. Without
either, the session stored by `python run.py login gopocket CONFIG` is used.

Rate limits: GoPocket publishes none. The default budget is conservative - 5 calls a second over
every endpoint and 3 order-entry calls a second (place, modify, cancel, square-off, exit) - and is
data (`rate_limits`): each entry is `calls` per `per_s` seconds for the paths starting with one of
`paths` (every path when empty); a call waits for every entry it falls under.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import msgspec

from engine.venue.contract import VenueConfig

ORDER_ENTRY_PATHS = (
    "orders/placeorder", "orders/modify/", "orders/cancel/", "orders/positions/sqroff", "orders/exit/sno",
)


class RateLimit(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`calls` per `per_s` seconds for the paths (relative to the API prefix) starting with `paths`."""

    calls: int
    per_s: float = 1.0
    paths: list[str] = []


DEFAULT_RATE_LIMITS = [RateLimit(calls=5, per_s=1.0), RateLimit(calls=3, per_s=1.0, paths=list(ORDER_ENTRY_PATHS))]


class WebhookConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The order-update webhook receiver (aiohttp, served by the engine).

    `public_url` is what GoPocket is told to post to (the receiver's own address when empty: only
    useful with the emulator); a secret `key` is added to it as `?key=`, and a delivery without it
    is refused (401). Deliveries that carry an Authorization header must carry one of our sessions.
    """

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 0
    path: str = "/gopocket/order-updates"
    public_url: str = ""
    key: str = ""  # generated per run when empty


class GopocketConfig(VenueConfig, kw_only=True, forbid_unknown_fields=True):
    """A GoPocket venue block; `api_secret`, `auth_code` and `session_token` belong in ${VAR}s."""

    secret_fields: ClassVar[tuple[str, ...]] = ("api_secret", "auth_code", "session_token")

    user_id: str = ""
    app_code: str = ""
    api_secret: str = ""
    auth_code: str = ""
    session_token: str = ""
    session_file: str = ""  # default: <state_dir>/gopocket/session-<user>.json
    url: str = "https://web.gopocket.in/"  # the REST base; paths are joined to it as the venue has them
    api_prefix: str = "open-api/order/v1/"
    session_path: str = "open-api/order/v1/vendor/getUserDetails"  # the seed's: am/sso/vendor/auth/getUserDetails
    login_url: str = "https://web.gopocket.in/"  # the SSO page, sent ?appcode=
    redirect_url: str = "http://127.0.0.1:8765/gopocket/callback"  # the vendor app's registered redirect
    contract_url: str = "https://web.gopocket.in/contract/csv/"
    webhook_url: str = "https://web.gopocket.in/order-notify/webhook/"
    ws_url: str = ""  # the Noren-dialect socket; the official URL is not published: empty = no socket
    exchanges: list[str] = msgspec.field(default_factory=lambda: ["NSE"])  # the contract masters loaded
    symbols: list[str] = []  # e.g. ["NSE:SBIN"]; empty loads every row of `exchanges`
    product: Literal["CNC", "MIS", "NRML"] = "CNC"
    webhook: WebhookConfig = msgspec.field(default_factory=WebhookConfig)
    poll_fast_s: float = 0.5
    poll_slow_s: float = 2.0
    poll_idle_s: float = 15.0
    fast_window_s: float = 5.0
    stale_after_s: float = 30.0
    match_window_s: float = 300.0
    timeout_s: float = 10.0
    rate_limits: list[RateLimit] = msgspec.field(default_factory=lambda: list(DEFAULT_RATE_LIMITS))
