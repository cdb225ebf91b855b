"""What the ops surface keeps beside the engine's own state: recent fills, the PnL over time, the
last status of every feed, the order-acknowledgement latency, and the operator's controls.

Only order events and feed status changes reach it (never market data), and only while the HTTP
surface or alerts are on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Histogram

from engine.events import EngineError, FeedState, FeedStatus, Fill, OrderStatus, OrderUpdate

if TYPE_CHECKING:
    from engine.app.runner import Engine

NS = 1_000_000_000
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
Listener = Callable[[str, dict[str, Any]], None]


class OpsState:
    def __init__(self, engine: Engine, *, recent_fills: int = 50, history_points: int = 600) -> None:
        self.engine = engine
        self.fills: deque[Fill] = deque(maxlen=recent_fills)
        self.pnl_history: deque[tuple[int, float]] = deque(maxlen=history_points)
        self.feeds: dict[tuple[str, str | None], FeedStatus] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self.ack_latency = Histogram(
            "tickbus_order_ack_latency_seconds", "Order sent to the venue -> its acknowledgement (engine time)",
            ["venue"], buckets=ACK_BUCKETS, registry=self.registry,
        )
        self._sent_ns: dict[str, int] = {}
        self.listeners: list[Listener] = []  # alerts: (kind, data) for fills, rejects, stops
        self._subscriptions: list[Any] = []

    def attach(self) -> None:
        for host in self.engine.hosts:  # a quote in 64 timed from its frame to the strategy
            host.sample_feed_latency()
        bus = self.engine.bus
        self._subscriptions = [
            bus.subscribe(Fill, self._on_fill, name="ops.fills"),
            bus.subscribe(OrderUpdate, self._on_update, name="ops.orders"),
            bus.subscribe(FeedStatus, self._on_feed, name="ops.feeds"),
            bus.subscribe(EngineError, self._on_error, name="ops.errors"),
        ]

    def detach(self) -> None:
        for sub in self._subscriptions:
            sub.cancel()
        self._subscriptions = []

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        for listener in self.listeners:
            listener(kind, data)

    def _on_fill(self, fill: Fill) -> None:
        self.fills.append(fill)
        if self.listeners:
            self._emit("fill", {"strategy": fill.strategy_id, "instrument": fill.instrument, "side": fill.side.value,
                                "qty": str(fill.qty), "price": str(fill.price), "venue": fill.venue})

    def _on_update(self, update: OrderUpdate) -> None:
        order = update.order
        coid = order.client_order_id
        if order.status is OrderStatus.SUBMITTED:
            self._sent_ns[coid] = update.ts
        elif update.previous is OrderStatus.SUBMITTED or coid in self._sent_ns:
            sent = self._sent_ns.pop(coid, None)
            if sent is not None and order.status is not OrderStatus.REJECTED:
                self.ack_latency.labels(order.venue).observe(max(update.ts - sent, 0) / NS)
        if order.status is OrderStatus.REJECTED and self.listeners:
            self._emit("order_rejected", {"strategy": order.strategy_id, "instrument": order.instrument,
                                          "client_order_id": coid, "reason": order.reason or ""})

    def _on_feed(self, status: FeedStatus) -> None:
        self.feeds[(status.venue, status.subscription)] = status
        if status.state is FeedState.STALE and self.listeners:
            self._emit("feed_stale", {"venue": status.venue, "subscription": status.subscription,
                                      "detail": status.detail})
        if status.state is FeedState.CONNECTED and status.subscription is None:
            # a connection (re)opened: the subscriptions' own old states no longer stand
            for key in [k for k in self.feeds if k[0] == status.venue and k[1] is not None]:
                if self.feeds[key].state is not FeedState.STALE:
                    del self.feeds[key]

    def _on_error(self, error: EngineError) -> None:
        if error.source.startswith("strategy.") and self.listeners:
            self._emit("strategy_stopped", {"strategy": error.source.removeprefix("strategy."), "reason": error.message})

    def sample(self) -> None:
        """One point of the PnL line (called every push interval)."""
        self.pnl_history.append((self.engine.clock.now_ns(), float(self.engine.portfolio.pnl().net)))

    def stale_feeds(self) -> dict[str, int]:
        """Venue -> subscriptions (or the connection) whose last status is not connected."""
        out: dict[str, int] = {}
        for (venue, _), status in self.feeds.items():
            out.setdefault(venue, 0)
            if status.state is not FeedState.CONNECTED:
                out[venue] += 1
        return out
