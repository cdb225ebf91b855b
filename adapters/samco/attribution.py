"""Which Samco order number is which client order id, written down so a restart knows.

Samco takes no client order id. `Attributions` keeps order number -> client order id and, when
given a file (`<state_dir>/samco/orders-<key fingerprint>.txt`, one `<IST date> <number> <coid>`
line per attribution, the last `ATTRIBUTION_DAYS` IST days kept), appends each new one before the
report that carries it leaves the adapter: the order manager journals what the adapter tells it, so
the file is never behind the journal.
"""

from __future__ import annotations

import asyncio
import os
from datetime import date
from pathlib import Path

import structlog

log = structlog.get_logger("tickbus.samco")
ATTRIBUTION_DAYS = 3  # order numbers are per day; a few days cover after-market orders and restarts


class Attributions:
    """Order number -> client order id, persisted when `path` is set."""

    def __init__(self, venue: str) -> None:
        self.venue = venue
        self.coids: dict[str, str] = {}
        self.path: Path | None = None

    async def load(self, path: Path, today: date) -> None:
        """Write to `path` from now on, after taking in what it holds of the last few days."""
        self.path = path
        self.coids.update(await asyncio.to_thread(load_attributions, path, today))

    def get(self, number: str) -> str | None:
        return self.coids.get(number)

    async def attribute(self, number: str, coid: str, day: date) -> None:
        """Order `number` is `coid`'s: remembered, and written down before anyone is told."""
        if not number or self.coids.get(number) == coid:
            return
        self.coids[number] = coid
        if self.path is not None:
            try:
                await asyncio.to_thread(append_attribution, self.path, day, number, coid)
            except OSError as exc:  # a safety net for restarts: never a reason to fail the order
                log.error("order attribution not written", venue=self.venue, order_number=number, error=str(exc))


def load_attributions(path: Path, today: date) -> dict[str, str]:
    """The order number -> client order id lines of the last few IST days (older ones dropped)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    kept: list[str] = []
    found: dict[str, str] = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 3:
            continue
        try:
            day = date.fromisoformat(parts[0])
        except ValueError:
            continue
        if (today - day).days < ATTRIBUTION_DAYS:
            kept.append(line)
            found[parts[1]] = parts[2]
    if len(kept) != len(lines):
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
        os.replace(tmp, path)
    return found


def append_attribution(path: Path, day: date, number: str, coid: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(f"{day.isoformat()} {number} {coid}\n")
