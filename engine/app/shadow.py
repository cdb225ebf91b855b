"""Paper against the venue: `shadow: true` on a live venue runs the engine's paper account beside it
on the same quotes and the same orders, so a run can show how far paper trading flatters it.

Every order the manager sends to the venue (its `submitted` update) is placed as a copy, with the
same client order id, on a paper broker of its own (its reports and fills come here, never to the
order manager); a cancel or a price change of the real order is done to the copy too. The venue's
fills come off the bus. At the end, order by order: what each side filled, at what average price,
how many ticks apart (positive: paper filled at a better price than the venue), and how much later
or sooner paper filled first."""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import structlog

from engine.app.plugins import load_venue
from engine.data.bus import Bus, Subscription
from engine.errors import ConfigError
from engine.events import Balance, Fill, Instrument, Order, OrderReport, OrderStatus, OrderUpdate, Pending, Side
from engine.venue.contract import Venue, VenueContext

if TYPE_CHECKING:
    from engine.app.runner import Engine

log = structlog.get_logger("tickbus.shadow")
ZERO = Decimal(0)
MAX_ORDERS_LISTED = 200  # in the summary; the counts cover every order


@dataclass
class Leg:
    """What one side (the venue, or paper) did with an order."""

    qty: Decimal = ZERO
    notional: Decimal = ZERO
    first_ns: int | None = None

    def add(self, fill: Fill) -> None:
        self.qty += fill.qty
        self.notional += fill.qty * fill.price
        ts = fill.ts_event or fill.ts_recv
        if self.first_ns is None or ts < self.first_ns:
            self.first_ns = ts

    @property
    def avg(self) -> Decimal | None:
        return self.notional / self.qty if self.qty else None


@dataclass
class Pair:
    """One order as the venue saw it and as its paper copy fared."""

    order: Order
    venue: Leg = field(default_factory=Leg)
    paper: Leg = field(default_factory=Leg)
    paper_status: OrderStatus | None = None
    paper_refused: str | None = None
    copy: Order | None = None  # the copy as paper last had it (None until placed)


class ShadowSink:
    """Where the paper copy's reports and fills go."""

    def __init__(self, book: Shadow) -> None:
        self.book = book

    def on_order_report(self, report: OrderReport) -> None:
        pair = self.book.pairs.get(report.client_order_id or "")
        if pair is not None:
            pair.paper_status = report.status

    def on_fill(self, fill: Fill) -> None:
        pair = self.book.pairs.get(fill.client_order_id or "")
        if pair is not None:
            pair.paper.add(fill)

    def on_balance(self, balance: Balance) -> None:
        pass


class Shadow:
    """The paper copy of one live venue's orders, and the comparison."""

    def __init__(self, venue: str, bus: Bus, instruments: dict[str, Instrument]) -> None:
        self.venue = venue
        self.paper: Venue[Any] | None = None  # set by `start`: its sink is this book's
        self.instruments = instruments
        self.pairs: dict[str, Pair] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._subscriptions: list[Subscription] = [
            bus.subscribe(OrderUpdate, self.on_update, name=f"shadow.{venue}.orders"),
            bus.subscribe(Fill, self.on_fill, name=f"shadow.{venue}.fills"),
        ]

    async def start(self, paper: Venue[Any]) -> None:
        """Run `paper` (a paper broker whose sink is `ShadowSink(self)`) beside the venue."""
        self.paper = paper
        paper.register_instruments([i for i in self.instruments.values() if i.venue == self.venue])
        await paper.connect()

    # --- the real order's life ------------------------------------------------------------------

    def on_update(self, update: OrderUpdate) -> None:
        order = update.order
        if order.venue != self.venue:
            return
        pair = self.pairs.get(order.client_order_id)
        if pair is None:
            if order.status is OrderStatus.SUBMITTED:
                self.pairs[order.client_order_id] = pair = Pair(order)
                self._spawn(self._place(pair))
            return
        previous, pair.order = pair.order, order
        if order.status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED) or order.pending is Pending.CANCEL:
            self._spawn(self._cancel(pair))
        elif order.price != previous.price or order.qty != previous.qty:
            self._spawn(self._modify(pair, order))

    def on_fill(self, fill: Fill) -> None:
        if fill.venue == self.venue:
            pair = self.pairs.get(fill.client_order_id or "")
            if pair is not None:
                pair.venue.add(fill)

    async def _place(self, pair: Pair) -> None:
        assert self.paper is not None
        try:
            report = await self.paper.place(pair.order)
        except Exception as exc:  # noqa: BLE001 - paper refusing (market closed, funds) is a finding
            pair.paper_refused = str(exc) or type(exc).__name__
            return
        pair.copy = pair.order
        pair.paper_status = pair.paper_status or report.status

    async def _cancel(self, pair: Pair) -> None:
        if self.paper is None or pair.copy is None or (pair.paper_status is not None and pair.paper_status.is_terminal):
            return
        try:
            await self.paper.cancel(pair.copy)
        except Exception as exc:  # noqa: BLE001 - already filled on paper, say
            log.debug("shadow cancel refused", client_order_id=pair.order.client_order_id, error=str(exc))

    async def _modify(self, pair: Pair, order: Order) -> None:
        if self.paper is None or pair.copy is None or (pair.paper_status is not None and pair.paper_status.is_terminal):
            return
        try:
            await self.paper.modify(pair.copy, qty=order.qty, price=order.price)
            pair.copy = order
        except Exception as exc:  # noqa: BLE001
            log.debug("shadow modify refused", client_order_id=order.client_order_id, error=str(exc))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for sub in self._subscriptions:
            sub.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)
        if self.paper is not None:
            await self.paper.close()

    # --- the comparison -------------------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        rows = [self._row(p) for p in self.pairs.values()]
        venue_qty = sum((p.venue.qty for p in self.pairs.values()), ZERO)
        paper_qty = sum((p.paper.qty for p in self.pairs.values()), ZERO)
        ticks = [r["ticks_better_on_paper"] for r in rows if r["ticks_better_on_paper"] is not None]
        later = [r["paper_first_fill_ms_later"] for r in rows if r["paper_first_fill_ms_later"] is not None]
        return {
            "orders": len(rows),
            "both_filled": sum(1 for r in rows if r["venue_filled"] != "0" and r["paper_filled"] != "0"),
            "venue_only": sum(1 for r in rows if r["venue_filled"] != "0" and r["paper_filled"] == "0"),
            "paper_only": sum(1 for r in rows if r["venue_filled"] == "0" and r["paper_filled"] != "0"),
            "paper_refused": sum(1 for p in self.pairs.values() if p.paper_refused),
            "fill_ratio_paper_to_venue": str(round(paper_qty / venue_qty, 4)) if venue_qty else None,
            "ticks_better_on_paper": _stats(ticks),
            "paper_first_fill_ms_later": _stats(later),
            "by_order": rows[:MAX_ORDERS_LISTED],
        }

    def _row(self, pair: Pair) -> dict[str, Any]:
        order, venue, paper = pair.order, pair.venue, pair.paper
        tick = self.instruments[order.instrument].tick_size if order.instrument in self.instruments else None
        better = None
        if venue.avg is not None and paper.avg is not None and tick:
            diff = (venue.avg - paper.avg) if order.side is Side.BUY else (paper.avg - venue.avg)
            better = float(round(diff / tick, 2))
        later = None
        if venue.first_ns is not None and paper.first_ns is not None:
            later = round((paper.first_ns - venue.first_ns) / 1e6, 1)
        return {
            "client_order_id": order.client_order_id, "instrument": order.instrument, "side": order.side.value,
            "type": order.type.value, "qty": str(order.qty), "price": None if order.price is None else str(order.price),
            "venue_filled": str(venue.qty), "venue_avg": None if venue.avg is None else str(round(venue.avg, 8)),
            "paper_filled": str(paper.qty), "paper_avg": None if paper.avg is None else str(round(paper.avg, 8)),
            "ticks_better_on_paper": better, "paper_first_fill_ms_later": later, "paper_refused": pair.paper_refused,
        }


def _stats(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"n": len(values), "mean": round(statistics.fmean(values), 3), "median": round(statistics.median(values), 3),
            "min": min(values), "max": max(values)}


async def start_shadows(engine: Engine) -> dict[str, Shadow]:
    """A paper account beside each live venue that asks for one (`shadow: true`), funded as the
    venue is now."""
    shadows: dict[str, Shadow] = {}
    plan = engine.plan
    for vp in plan.venues.values():
        if not vp.config.shadow:
            continue
        venue = engine.venues[vp.name]
        if engine.mode != "live" or not venue.supports_execution:
            raise ConfigError(plan.file, f"venues.{vp.name}.shadow", "a shadow paper account runs beside a live venue that trades")
        funds: dict[str, Decimal] = {}
        for b in await venue.balances():
            funds[b.asset] = funds.get(b.asset, ZERO) + b.free + b.locked
        shadow = Shadow(vp.name, engine.bus, engine.portfolio.instruments)
        paper_cls = load_venue("paper")
        ctx = VenueContext(name=f"{vp.name}.shadow", bus=engine.bus, clock=engine.clock, sink=ShadowSink(shadow),
                           state_dir=Path(plan.config.state_dir), mode="paper", config_file=plan.file)
        await shadow.start(paper_cls(ctx, msgspec.convert({"balances": funds}, paper_cls.Config)))
        shadows[vp.name] = shadow
        log.info("shadow paper account beside the venue", venue=vp.name, funds={k: str(v) for k, v in funds.items()})
    return shadows
