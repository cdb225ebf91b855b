"""The GOPAX venue's config block."""

from __future__ import annotations

from typing import ClassVar, Literal

from engine.venue.contract import VenueConfig


class GopaxConfig(VenueConfig, kw_only=True, forbid_unknown_fields=True):
    """A GOPAX venue block; `api_key` and `secret` belong in ${VAR}s."""

    secret_fields: ClassVar[tuple[str, ...]] = ("api_key", "secret")

    api_key: str = ""
    secret: str = ""
    signing: Literal["current", "legacy"] = "current"
    url: str = "https://api.gopax.co.kr"
    ws_url: str = "wss://wsapi.gopax.co.kr"
    market_data: Literal["ws", "rest"] = "ws"
    quotes: Literal["book", "tickers"] = "book"  # quotes-only pairs: from their book, or SubscribeToTickers
    poll_interval_s: float = 1.0
    private_stream: bool = True
    pairs: list[str] = []
    book_depth: int = 20
    stale_after_s: float = 60.0  # a subscription quiet this long is STALE and the socket reconnected
    catch_up_backoff_s: tuple[float, float] = (0.2, 5.0)  # the REST catch-up after a reconnect, retried
    receive_window_ms: int | None = None
    timeout_s: float = 10.0
