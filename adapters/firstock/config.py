"""The Firstock venue's config block."""

from __future__ import annotations

from typing import ClassVar, Literal

from engine.venue.contract import VenueConfig

REQUESTS_PER_S = 5  # our own budget: Firstock publishes no rate limits (docs/venues/firstock.md)


class FirstockConfig(VenueConfig, kw_only=True, forbid_unknown_fields=True):
    """A Firstock venue block; the credentials belong in ${VAR}s.

    `totp_secret` (the base32 secret of the authenticator app) lets the engine make a fresh TOTP
    for every login, renewals included; `totp` (a six-digit code) works for the first login only.
    """

    secret_fields: ClassVar[tuple[str, ...]] = ("password", "totp_secret", "vendor_code", "api_key")

    user_id: str = ""
    password: str = ""  # the plain password: only its SHA-256 hex goes on the wire
    totp: str = ""
    totp_secret: str = ""
    vendor_code: str = ""
    api_key: str = ""
    url: str = "https://api.firstock.in"  # endpoints are /V1/<name>
    ws_url: str = "wss://socket.firstock.in/V2/ws"
    symbols: list[str] = []  # e.g. ["NSE:RELIANCE"]: each resolved by searchScrips + securityInfo
    product: Literal["CNC", "MIS", "NRML"] = "CNC"
    stream: bool = True  # the V2 socket for quotes; order updates use it whatever this says
    quote_poll_s: float = 1.0  # getQuote polling when `stream` is off
    poll_s: float = 5.0  # the order and trade books read this often as a safety net beside the socket
    stale_after_s: float = 30.0
    session_end: str = "03:00"  # IST: when the venue rolls jKeys over each day (third-party note)
    login_retry_s: float = 30.0
    timeout_s: float = 10.0
    requests_per_s: int = REQUESTS_PER_S
    mkt_protection: str = ""  # sent with MKT / SL-MKT orders when set (a percentage, "2")
