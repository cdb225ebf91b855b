"""Every subject and stream name the split uses, from the config's `stream` stem."""

from __future__ import annotations

import re

from engine.events import BookSnapshot, Quote, Trade

# a subject token may not hold '.', '*', '>' or white space: those (and '%') are %-escaped
_UNSAFE = re.compile(r"[.*>%\s]")
KIND_OF: dict[type, str] = {Quote: "q", Trade: "t", BookSnapshot: "b"}


def token(text: str) -> str:
    return _UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", text) or "%00"


class Subjects:
    """`<stem>.md.<kind>.<venue>.<symbol>` market data (core NATS, at most once);
    `<stem>.cmd.<strategy>` order commands (stream `<stem>_CMD`);
    `<stem>.evt.<strategy>` order updates and fills (stream `<stem>_EVT`, a durable consumer per
    strategy); `<stem>.state` the request for a strategy host's starting state."""

    def __init__(self, stem: str) -> None:
        self.stem = stem
        self.cmd_stream = f"{stem}_CMD"
        self.evt_stream = f"{stem}_EVT"
        self.state = f"{stem}.state"
        self.cmd_all = f"{stem}.cmd.>"
        self.evt_all = f"{stem}.evt.>"

    def market(self, kind: str, instrument: str) -> str:
        venue, _, symbol = instrument.partition(":")
        return f"{self.stem}.md.{kind}.{token(venue)}.{token(symbol)}"

    def market_any(self, instrument: str) -> str:
        venue, _, symbol = instrument.partition(":")
        return f"{self.stem}.md.*.{token(venue)}.{token(symbol)}"

    def kind(self, subject: str) -> str:
        """The kind token of a market-data subject."""
        return subject[len(self.stem) + 4 : len(self.stem) + 5]

    def command(self, strategy_id: str) -> str:
        return f"{self.stem}.cmd.{token(strategy_id)}"

    def events(self, strategy_id: str) -> str:
        return f"{self.stem}.evt.{token(strategy_id)}"

    def durable(self, strategy_id: str) -> str:
        """The durable consumer of one strategy's order events (names allow no '.', '*', '>')."""
        return "evt-" + re.sub(r"[^A-Za-z0-9_-]", lambda m: f"_{ord(m.group()):02X}", strategy_id)
