"""Retrying without hammering a venue: full-jitter backoff, and errors described without secrets."""

from __future__ import annotations

import asyncio
import random
import re

import aiohttp
import structlog

log = structlog.get_logger("tickbus.feeds")

_QUERY = re.compile(r"\?[^\s'\")]*")


def describe_error(exc: BaseException) -> str:
    """An error for a log line or a FeedStatus, without URL queries or headers: venues put
    signatures and tokens there (aiohttp's repr of a refused upgrade carries both)."""
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"{type(exc).__name__}: HTTP {exc.status} {exc.message}".rstrip()
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout"
    return f"{type(exc).__name__}: {_QUERY.sub('?...', str(exc))}"



class Backoff:
    """Exponential backoff, full jitter: delay n is uniform in [0, min(max, initial*factor**n)]."""

    def __init__(
        self,
        initial_s: float = 0.5,
        maximum_s: float = 30.0,
        factor: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        if initial_s <= 0 or maximum_s < initial_s or factor < 1:
            raise ValueError("need 0 < initial_s <= maximum_s and factor >= 1")
        self.initial_s = initial_s
        self.maximum_s = maximum_s
        self.factor = factor
        self._rng = rng or random.Random()
        self.attempts = 0
        self.ceiling = initial_s  # the upper bound of the next delay

    def next(self) -> float:
        delay = self._rng.uniform(0.0, self.ceiling)
        self.attempts += 1
        self.ceiling = min(self.maximum_s, self.ceiling * self.factor)
        return delay

    def reset(self) -> None:
        self.attempts = 0
        self.ceiling = self.initial_s
