"""What crosses the wire, as msgspec msgpack: market data, order commands, order events, and a
strategy host's starting state."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from engine.events import Balance, BookSnapshot, Fill, Instrument, Order, OrderUpdate, Position, Quote, Trade


class Submit(msgspec.Struct, tag="submit", frozen=True):
    """A new order, made by the strategy host (its client order id is the JetStream message id)."""

    order: Order


class Cancel(msgspec.Struct, tag="cancel", frozen=True):
    client_order_id: str
    strategy_id: str


class Modify(msgspec.Struct, tag="modify", frozen=True):
    client_order_id: str
    strategy_id: str
    qty: Decimal | None = None
    price: Decimal | None = None
    trigger_price: Decimal | None = None


Command = Submit | Cancel | Modify


class OrderEvent(msgspec.Struct, frozen=True, array_like=True):
    """One order update or one fill, in the order core announced them."""

    update: OrderUpdate | None = None
    fill: Fill | None = None


class StateRequest(msgspec.Struct, frozen=True):
    strategies: list[str]


class HostState(msgspec.Struct, frozen=True, kw_only=True):
    """Core's answer: what a strategy host needs before it may trade."""

    ready: bool
    reason: str = ""
    now_ns: int = 0
    speed: float = 1.0
    events_seq: int = 0  # the last order-event sequence this state already includes
    session: str = ""  # core's run: order events from another run are not this state's
    instruments: list[Instrument] = []
    routes: dict[str, str] = {}  # instrument -> the venue its orders go to
    positions: list[Position] = []
    balances: list[Balance] = []
    open_orders: list[Order] = []


encode = msgspec.msgpack.Encoder().encode
MARKET_DECODERS: dict[str, msgspec.msgpack.Decoder[Quote] | msgspec.msgpack.Decoder[Trade]
                      | msgspec.msgpack.Decoder[BookSnapshot]] = {
    "q": msgspec.msgpack.Decoder(Quote),
    "t": msgspec.msgpack.Decoder(Trade),
    "b": msgspec.msgpack.Decoder(BookSnapshot),
}
decode_command = msgspec.msgpack.Decoder(Command).decode
decode_event = msgspec.msgpack.Decoder(OrderEvent).decode
decode_state = msgspec.msgpack.Decoder(HostState).decode
decode_state_request = msgspec.msgpack.Decoder(StateRequest).decode
