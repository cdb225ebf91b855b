"""Exceptions: a user's mistake (one line, exit 2) and a venue's answer (typed, carrying its code)."""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix: printed as one line, exit code 2, never a traceback."""

    exit_code = 2


class ConfigError(UserError):
    """A config problem located by file and field path, e.g. `x.yaml: strategies[0].params.fast: ...`."""

    def __init__(self, file: str, path: str, message: str) -> None:
        self.file = file
        self.path = path
        self.message = message
        where = f"{file}: {path}: " if path else f"{file}: "
        super().__init__(where + message)


class VenueError(Exception):
    """A venue refused or failed a request; `code` and `text` are the venue's own."""

    retryable = False

    def __init__(
        self,
        venue: str,
        text: str,
        *,
        code: str | int | None = None,
        http_status: int | None = None,
    ) -> None:
        self.venue = venue
        self.text = text
        self.code = code
        self.http_status = http_status
        parts = [venue]
        if http_status is not None:
            parts.append(f"HTTP {http_status}")
        if code is not None:
            parts.append(f"code {code}")
        super().__init__(f"{' '.join(parts)}: {text}")


class AuthError(VenueError):
    """Bad key, bad signature, expired session, unregistered IP."""


class RateLimited(VenueError):
    retryable = True


class VenueUnavailable(VenueError):
    """5xx, timeouts and broken connections: the outcome of a write is unknown."""

    retryable = True


class OrderNotFound(VenueError):
    pass


class InvalidOrder(VenueError):
    pass


class InsufficientFunds(InvalidOrder):
    pass


class MarketClosed(InvalidOrder):
    pass


class NotSupported(VenueError):
    """The venue has no such capability (e.g. a market-data-only source asked to trade)."""
