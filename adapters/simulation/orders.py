"""What the matching engine (`matching.py`) takes and tells: a simulated order, and the executions
and status changes it reports for one."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from engine.events import ZERO, OrderStatus, OrderType, Side, TimeInForce

S = OrderStatus


class SimOrder:
    """An order inside the matching engine (mutable; callers read its fields)."""

    __slots__ = (
        "id", "owner", "instrument", "side", "type", "qty", "price", "trigger", "tif",
        "notional", "expires_ns", "client_id", "created_ns", "status", "filled", "spent",
        "triggered", "reason", "seq", "_price_f",
    )

    def __init__(
        self,
        *,
        id: str,
        instrument: str,
        side: Side,
        type: OrderType,
        qty: Decimal,
        price: Decimal | None = None,
        trigger: Decimal | None = None,
        tif: TimeInForce = TimeInForce.GTC,
        owner: str = "",
        notional: Decimal | None = None,
        expires_ns: int | None = None,
        client_id: str | None = None,
        created_ns: int = 0,
    ) -> None:
        self.id = id
        self.owner = owner
        self.instrument = instrument
        self.side = side
        self.type = type
        self.qty = qty
        self.price = price
        self.trigger = trigger
        self.tif = tif
        self.notional = notional
        self.expires_ns = expires_ns
        self.client_id = client_id
        self.created_ns = created_ns
        self.status = S.PLACED
        self.filled = ZERO
        self.spent = ZERO  # quote currency paid or received so far
        self.triggered = type not in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT)
        self.reason: str | None = None
        self.seq = 0
        self._price_f = float(price) if price is not None else 0.0

    @property
    def remaining(self) -> Decimal:
        left = self.qty - self.filled
        return left if left > 0 else ZERO

    @property
    def is_open(self) -> bool:
        return self.status in (S.PLACED, S.UPDATED)

    @property
    def avg_price(self) -> Decimal | None:
        return self.spent / self.filled if self.filled > 0 else None

    @property
    def acts_as_market(self) -> bool:
        return self.type in (OrderType.MARKET, OrderType.STOP_MARKET)

    def __repr__(self) -> str:
        return (
            f"SimOrder({self.id} {self.side.value} {self.qty} {self.instrument} {self.type.value}"
            f" @{self.price} {self.status.value} filled={self.filled})"
        )


class Execution(msgspec.Struct, frozen=True, gc=False):
    order_id: str
    owner: str
    instrument: str
    side: Side
    qty: Decimal
    price: Decimal
    liquidity: str  # "maker" | "taker"
    exec_id: str
    ts_ns: int


class StatusChange(msgspec.Struct, frozen=True, gc=False):
    order_id: str
    owner: str
    status: OrderStatus
    reason: str | None
    ts_ns: int
    triggered: bool = False


Event = Execution | StatusChange
