"""smallcase Gateway under the conformance suite: a leprechaun account whose market is always open.

The gateway takes no server-to-server orders: a transaction is created, the user completes it in
smallcase's SDK (the emulator's leprechaun user does so after a short delay) and its orders fill
at the market. A placed transaction cannot be cancelled or modified.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from adapters.india import nse_equity
from engine.events import Instrument
from tests.venues.drivers.base import Driver, OrderTerms

POLLED = "smallcase Gateway has no websocket (read by polling and postbacks)"
NO_CANCEL = "smallcase Gateway has no cancel or modify of a placed transaction"


class SmallcaseDriver(Driver):
    def resting(self, emulator: Any) -> OrderTerms:
        raise NotImplementedError(NO_CANCEL)

    def filling(self, emulator: Any, qty: Decimal | None = None) -> OrderTerms:
        return OrderTerms("buy", qty or Decimal(2))

    def told_twice(self, emulator: Any) -> bool:
        """The completion comes by postback and by the poll: each tells the same fills."""
        return any(p.status == 200 for p in emulator.postbacks)

    def declared(self) -> list[Instrument]:
        return [nse_equity(self.venue, "RELIANCE")]


DRIVER = SmallcaseDriver(
    venue="smallcase", place_route="POST /gateway/{gateway}/transaction", symbol="NSE:RELIANCE",
    config={"leprechaun": True, "emulator_leprechaun_hours": "open", "emulator_complete_delay_s": 0.05,
            "poll_interval_s": 0.1, "idle_poll_interval_s": 0.2, "postback": {"enabled": True}},
    # A transaction's id comes only in the create answer, and nothing happens to a transaction
    # until the user opens its link: a lost answer leaves an unused transaction that lapses.
    lost_placement="inert",
    streams=False,
    rests=False,  # a transaction's orders fill at the market when the user completes it
    not_applicable={
        "place_cancel": NO_CANCEL,
        "modify": NO_CANCEL,
        "fill_after_cancel": NO_CANCEL,
        "out_of_order": POLLED + "; each look is a whole view of the transaction, there is no stream to reorder",
        "ws_drop": POLLED + "; a look that fails is followed by the next one",
    },
)
