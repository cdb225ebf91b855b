"""The Samco venue's config block."""

from __future__ import annotations

from typing import ClassVar, Literal

from adapters.samco.scrip import SCRIP_MASTER_URL
from engine.venue.contract import VenueConfig


class SamcoConfig(VenueConfig, kw_only=True, forbid_unknown_fields=True):
    """A Samco venue block; `api_key` and `api_secret` belong in ${VAR}s."""

    secret_fields: ClassVar[tuple[str, ...]] = ("api_key", "api_secret")

    api_key: str = ""
    api_secret: str = ""
    url: str = "https://tradeapi.samco.in"
    ws_url: str = "wss://stream.samco.in"
    scrip_master_url: str = SCRIP_MASTER_URL
    symbols: list[str] = []  # e.g. ["NSE:RELIANCE"]; empty loads the whole scrip master
    product: Literal["CNC", "MIS", "NRML"] = "CNC"
    stream: bool = True
    poll_fast_s: float = 0.5
    poll_slow_s: float = 2.0
    poll_idle_s: float = 15.0
    fast_window_s: float = 5.0
    quote_poll_s: float = 1.0
    stale_after_s: float = 30.0
    renew_before_s: float = 600.0
    session_check_s: float = 30.0
    match_window_s: float = 300.0
    timeout_s: float = 10.0
    requests_per_s: int = 10  # our own budget: Samco publishes no rate limits
