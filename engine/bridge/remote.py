"""A strategy host's order manager: the same calls strategies make in process (submit, cancel,
modify, open_orders, get), sent to core as JetStream commands; order state as core announces it."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections import deque
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import msgspec
import structlog

from engine.bridge.subjects import Subjects
from engine.bridge.wire import Cancel, Command, Modify, Submit, encode
from engine.clock import Clock
from engine.data.bus import Bus
from engine.events import Order, OrderStatus, OrderType, OrderUpdate, Pending, Side, TimeInForce
from engine.orders.ids import ClientOrderIds

log = structlog.get_logger("tickbus.bridge")


def id_prefix(strategy_id: str) -> str:
    """Four base-36 characters from the strategy's name: hosts of different strategies never
    make the same client order id, even started in the same millisecond."""
    digest = int.from_bytes(hashlib.sha256(strategy_id.encode()).digest()[:4], "big")
    return "".join("0123456789abcdefghijklmnopqrstuvwxyz"[(digest >> (5 * i)) % 36] for i in range(4))


class RemoteOrders:
    """`ctx.orders` on a strategy host. Calls return at once; one task sends the commands in
    order, each retried with the same message id until JetStream has it (so never placed twice),
    or refused back to the strategy after `deadline_s`."""

    def __init__(self, js: Any, subjects: Subjects, bus: Bus, clock: Clock, *, timeout_s: float,
                 deadline_s: float) -> None:
        self.js = js
        self.subjects = subjects
        self.bus = bus
        self.clock = clock
        self.timeout_s = timeout_s
        self.deadline_s = deadline_s
        self.orders: dict[str, Order] = {}
        self.ready = False
        self.session = format(time.time_ns() // 1_000_000, "x")
        self._ids: dict[str, ClientOrderIds] = {}
        self._n = itertools.count(1)
        self._outbox: deque[tuple[str, str, Command]] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.stats = {"sent": 0, "resent": 0, "refused": 0}
        self._task = asyncio.get_running_loop().create_task(self._pump())

    # --- the OrderManager calls strategies make -----------------------------------------------

    def submit(self, *, strategy_id: str, instrument: str, venue: str, side: Side, qty: Decimal,
               type: OrderType = OrderType.MARKET, price: Decimal | None = None,
               trigger_price: Decimal | None = None, tif: TimeInForce = TimeInForce.GTC,
               after_market: bool = False, options: Mapping[str, str] | None = None) -> Order:
        now = self.clock.now_ns()
        ids = self._ids.get(strategy_id)
        if ids is None:
            ids = self._ids[strategy_id] = ClientOrderIds(prefix=id_prefix(strategy_id))
        order = Order(
            client_order_id=ids.next(), strategy_id=strategy_id, instrument=instrument, venue=venue, side=side,
            type=type, qty=qty, price=price, trigger_price=trigger_price, tif=tif, after_market=after_market,
            options=dict(options or {}), created_ns=now, updated_ns=now,
        )
        if not self.ready:
            return self._refuse(order, "engine not ready: the state from core has not arrived")
        self.orders[order.client_order_id] = order
        self._send(strategy_id, order.client_order_id, Submit(order))
        return order

    def cancel(self, client_order_id: str) -> Order | None:
        order = self.orders.get(client_order_id)
        if order is None or not order.is_open or order.pending is Pending.CANCEL:
            return order
        flagged = msgspec.structs.replace(order, pending=Pending.CANCEL)
        self.orders[client_order_id] = flagged
        self._send(order.strategy_id, f"{client_order_id}:c:{self.session}:{next(self._n)}",
                   Cancel(client_order_id, order.strategy_id))
        return flagged

    def modify(self, client_order_id: str, *, qty: Decimal | None = None, price: Decimal | None = None,
               trigger_price: Decimal | None = None) -> Order | None:
        order = self.orders.get(client_order_id)
        if order is None or not order.is_open or order.pending is not None:
            return order
        flagged = msgspec.structs.replace(order, pending=Pending.MODIFY)
        self.orders[client_order_id] = flagged
        self._send(order.strategy_id, f"{client_order_id}:m:{self.session}:{next(self._n)}",
                   Modify(client_order_id, order.strategy_id, qty, price, trigger_price))
        return flagged

    def get(self, client_order_id: str) -> Order | None:
        return self.orders.get(client_order_id)

    def open_orders(self, *, strategy_id: str | None = None, instrument: str | None = None) -> list[Order]:
        return [o for o in self.orders.values() if o.is_open
                and (strategy_id is None or o.strategy_id == strategy_id)
                and (instrument is None or o.instrument == instrument)]

    # --- state from core ----------------------------------------------------------------------

    def on_update(self, update: OrderUpdate) -> None:
        """Core's announcement is the order's state (before the strategy hears of it)."""
        self.orders[update.order.client_order_id] = update.order

    # --- sending ------------------------------------------------------------------------------

    def _send(self, strategy_id: str, msg_id: str, command: Command) -> None:
        self._outbox.append((self.subjects.command(strategy_id), msg_id, command))
        self._idle.clear()
        self._wake.set()

    async def _pump(self) -> None:
        outbox = self._outbox
        while True:
            await self._wake.wait()
            self._wake.clear()
            while outbox:
                subject, msg_id, command = outbox[0]
                await self._deliver(subject, msg_id, command)
                outbox.popleft()
            self._idle.set()

    async def _deliver(self, subject: str, msg_id: str, command: Command) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.deadline_s
        data = encode(command)
        delay = 0.05
        tries = 0
        while True:
            tries += 1
            try:
                await self.js.publish(subject, data, timeout=self.timeout_s, headers={"Nats-Msg-Id": msg_id})
                self.stats["sent"] += 1
                self.stats["resent"] += tries - 1
                return
            except Exception as exc:  # noqa: BLE001 - the same message id again: JetStream keeps one
                if loop.time() >= deadline:
                    self._give_up(command, exc)
                    return
                if tries == 1:
                    log.warning("order command not yet accepted, resending", msg_id=msg_id, error=repr(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    def _give_up(self, command: Command, exc: BaseException) -> None:
        reason = f"bridge: not delivered to core within {self.deadline_s:g}s ({exc!r})"
        log.error("order command refused back to the strategy", reason=reason)
        if isinstance(command, Submit):
            self._refuse(command.order, reason)
        else:
            order = self.orders.get(command.client_order_id)
            if order is not None:
                restored = msgspec.structs.replace(order, pending=None, reason=reason)
                self.orders[order.client_order_id] = restored
                self.bus.publish(OrderUpdate(restored, order.status, self.clock.now_ns()), order.strategy_id)

    def _refuse(self, order: Order, reason: str) -> Order:
        self.stats["refused"] += 1
        rejected = msgspec.structs.replace(order, status=OrderStatus.REJECTED, reason=reason)
        self.orders[order.client_order_id] = rejected
        self.bus.publish(OrderUpdate(rejected, None, self.clock.now_ns()), order.strategy_id)
        return rejected

    @property
    def backlog(self) -> int:
        return len(self._outbox)

    async def close(self, timeout_s: float = 10.0) -> None:
        """Send what is queued (bounded), then stop."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            log.error("order commands not sent at stop", left=len(self._outbox))
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
