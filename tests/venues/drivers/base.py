"""What a venue's driver tells the conformance suite: its instrument, its config block, how to
get an order that rests and one that fills, and which scenarios do not apply to it (and why)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from engine.events import Instrument

SCENARIOS = (
    "place_cancel", "modify", "partial_fills", "fill_after_cancel", "duplicate_fill", "out_of_order",
    "ws_drop", "burst_5xx", "timeout_unknown", "rate_limited", "session_expiry", "sigkill_restart",
)


@dataclass(frozen=True)
class OrderTerms:
    """An order the scenario submits: side, quantity, limit price (None: a market order) and time in
    force (None: the engine's default)."""

    side: str
    qty: Decimal
    price: Decimal | None = None
    tif: str | None = None


@dataclass(frozen=True)
class Driver:
    """A venue under the suite; subclasses answer from the running emulator."""

    venue: str  # the entry-point name (tickbus.venues)
    symbol: str  # the instrument's venue symbol; the engine's id is f"{venue}:{symbol}"
    place_route: str  # the emulator's route a placement is sent to, as `EmulatorServer.answered` counts it
    config: Mapping[str, Any] = field(default_factory=dict)  # the venue block beyond the emulator's
    rests: bool = True  # an order can rest at the venue unfilled (`resting`), to be filled by the test
    streams: bool = True  # pushes order updates over a websocket (else polled)
    # what becomes of a placement whose answer was lost: "asked" (the venue is asked and tells it
    # was placed) or "inert" (only the answer carries the venue's id and nothing acts without it)
    lost_placement: str = "asked"
    not_applicable: Mapping[str, str] = field(default_factory=dict)  # scenario -> why not
    xfail: Mapping[str, str] = field(default_factory=dict)  # scenario -> why it fails for now

    @property
    def instrument(self) -> str:
        return f"{self.venue}:{self.symbol}"

    def resting(self, emulator: Any) -> OrderTerms:
        """An order the venue accepts and leaves working (it does not fill by itself)."""
        raise NotImplementedError

    def filling(self, emulator: Any, qty: Decimal | None = None) -> OrderTerms:
        """An order that fills at once, in whole."""
        raise NotImplementedError

    def lower(self, price: Decimal) -> Decimal:
        """A valid limit price below `price` (for a modify)."""
        raise NotImplementedError

    def declared(self) -> list[Instrument]:
        """Instruments a run's config declares for this venue (one whose venue lists none)."""
        return []

    def told_twice(self, emulator: Any) -> bool:
        """Whether the venue has told the scenario's fill a second time (a polled venue's answer)."""
        return True
