"""The emulated Firstock's order desk: place (and AMO), modify (and AMO), cancel, the order book,
single order history, the trade book, order margin and product conversion.

Strict checks, with the failed envelope: a known exchange and trading symbol, B / S, LMT / MKT /
SL-LMT / SL-MKT, DAY / IOC, a product the exchange takes (C or I on NSE/BSE, M or I on NFO), a
whole quantity in lots and within the freeze quantity, prices on the tick and inside the day's
circuit band (20% of the previous close). Market hours from india's calendar on the emulator's
clock: outside them placeOrder is refused (MARKET_CLOSED) and placeAMO is held until the next open
(shown PENDING); during them placeAMO is an ordinary order. DAY orders lapse at the close (shown
CANCELED). A margin or holdings shortfall is accepted and shown REJECTED with an RMS reason, as
Noren brokers do. Every state an order is shown in goes to its history and, as an order update, to
the socket (`on_order_change`, the app's). `cancel_delay_s`: a cancel is accepted at once and
carried out that much later on the emulator's clock.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from adapters.firstock import schemas as w
from adapters.firstock.emulator.gate import BODY, SESSION, Refused, reply
from adapters.firstock.emulator.market import (
    OWNER,
    PRICE_TYPES,
    SIDES,
    EmuOrder,
    ScripSpec,
    order_row,
    trade_row,
)
from adapters.simulation.emulation import Faults
from adapters.simulation.exchange import ExchangeError, FillRecord
from adapters.simulation.india_emulator import OrderLife
from adapters.simulation.india_market import OrderNumbers, Unfit, money, on_tick, scrip_key, whole_lots

PRODUCTS = {"NSE": ("C", "I"), "BSE": ("C", "I"), "NFO": ("M", "I"), "BFO": ("M", "I")}
CLOSED_TEXT = "Market is closed; place an after market order (placeAMO)"

def _field(body: dict[str, Any], name: str) -> str:
    value = body.get(name, "")
    return value if isinstance(value, str) else str(value)

class OrderDesk(OrderLife[EmuOrder]):
    """The order routes, mixed into the emulator; the orders' life at the exchange is the shared
    `OrderLife`, every state an order is shown in told by the app's `on_order_change`."""

    scrips: dict[str, ScripSpec]
    faults: Faults
    _numbers: OrderNumbers

    def prev_close(self, key: str) -> float:
        raise NotImplementedError

    # --- orders -------------------------------------------------------------------------------

    async def place_order(self, request: web.Request) -> web.Response:
        return self._place(request[BODY], request[SESSION], amo=False)

    async def place_amo(self, request: web.Request) -> web.Response:
        return self._place(request[BODY], request[SESSION], amo=True)

    def _place(self, body: dict[str, Any], session: str, *, amo: bool) -> web.Response:
        spec = self._spec(_field(body, "exchange"), _field(body, "tradingSymbol"))
        side = SIDES.get(_field(body, "transactionType").upper())
        if side is None:
            raise Refused("Invalid transactionType: B or S", field="transactionType")
        price_type = _field(body, "priceType").upper()
        if price_type not in PRICE_TYPES:
            raise Refused("Invalid priceType: LMT, MKT, SL-LMT or SL-MKT", field="priceType")
        retention = _field(body, "retention").upper()
        if retention not in ("DAY", "IOC"):
            raise Refused("Invalid retention: DAY or IOC", field="retention")
        product = _field(body, "product").upper()
        if product not in PRODUCTS.get(spec.exchange, ()):
            raise Refused(f"Invalid product {product!r} for {spec.exchange}", field="product")
        qty = self._quantity(_field(body, "quantity"), spec)
        price = self._price(_field(body, "price"), spec, "price") if price_type in ("LMT", "SL-LMT") else None
        trigger = self._price(_field(body, "triggerPrice"), spec, "triggerPrice") if price_type.startswith("SL") else None
        now = self.clock.now_ns()
        market_open = self.calendar.is_open(spec.exchange, now)
        if not market_open and not amo:
            raise Refused(CLOSED_TEXT, name="MARKET_CLOSED")
        order = EmuOrder(
            number=self._numbers.next(now), spec=spec, side=side, price_type=price_type, product=product,
            retention=retention, qty=qty, price=price, trigger=trigger, amo=amo and not market_open, placed_ns=now,
            remarks=_field(body, "remarks")[:64], session=session,
        )
        self.orders[order.number] = order
        if market_open:
            self._submit(order)
        else:
            order.state = "amo"
            order.release_ns = self.calendar.next_open(spec.exchange, now)
            self.on_order_change(order, "New")
        data = w.OrderNumberData(orderNumber=order.number, requestTime=w.ist_text(now))
        return reply(w.OrderNumberReply(status="success", message="Order placed successfully", data=data))

    async def modify_order(self, request: web.Request) -> web.Response:
        return self._modify(request[BODY], amo=False)

    async def modify_amo(self, request: web.Request) -> web.Response:
        return self._modify(request[BODY], amo=True)

    def _modify(self, body: dict[str, Any], *, amo: bool) -> web.Response:
        order = self._order(_field(body, "orderNumber"))
        if not order.is_open:
            raise Refused(f"Order cannot be modified as it is {order.word()}", name="ORDER_NOT_MODIFIABLE")
        if amo != (order.state == "amo"):
            raise Refused("modifyAMO is for an after market order still held" if amo else
                          "Use modifyAMO for an after market order", name="ORDER_NOT_MODIFIABLE")
        price_type = _field(body, "priceType").upper() or order.price_type
        if price_type != order.price_type:
            raise Refused("priceType cannot be modified", field="priceType")
        qty = self._quantity(_field(body, "quantity"), order.spec) if _field(body, "quantity") else order.qty
        price = self._price(_field(body, "price"), order.spec, "price") if price_type in ("LMT", "SL-LMT") else None
        trigger = self._price(_field(body, "triggerPrice"), order.spec, "triggerPrice") if price_type.startswith("SL") else None
        if order.sim is not None:
            try:
                self.exchange.modify(OWNER, order.sim.id, qty=qty, price=price, trigger=trigger)
            except ExchangeError as exc:
                raise Refused(exc.message, name="INSUFFICIENT_MARGIN" if exc.kind == "insufficient_funds" else "ORDER_NOT_MODIFIABLE") from None
        order.qty, order.price, order.trigger = qty, price, trigger
        self.on_order_change(order, "Replaced")
        data = w.OrderNumberData(orderNumber=order.number, requestTime=w.ist_text(self.clock.now_ns()))
        return reply(w.OrderNumberReply(status="success", message="Order modified successfully", data=data))

    async def cancel_order(self, request: web.Request) -> web.Response:
        order = self._order(_field(request[BODY], "orderNumber"))
        if not order.is_open:
            raise Refused(f"Order cannot be cancelled as it is {order.word()}", name="ORDER_NOT_CANCELLABLE")
        self._cancel(order)
        data = w.OrderNumberData(orderNumber=order.number, requestTime=w.ist_text(self.clock.now_ns()))
        return reply(w.OrderNumberReply(status="success", message="Order cancelled successfully", data=data))

    async def order_book(self, request: web.Request) -> web.Response:
        now = self.clock.now_ns()
        rows = [order_row(o, now_ns=now) for o in self.orders.values()]
        return reply(w.OrderBookReply(status="success", message="Order book", data=rows))

    async def single_order_history(self, request: web.Request) -> web.Response:
        order = self._order(_field(request[BODY], "orderNumber"))
        rows = [order_row(order, order.history[-1].reportType if order.history else "", self.clock.now_ns())]
        rows += reversed(order.history[:-1])
        return reply(w.OrderBookReply(status="success", message="Order history", data=rows))

    async def trade_book(self, request: web.Request) -> web.Response:
        rows = sorted(((f.id, trade_row(o, f)) for o in self.orders.values() for f in o.fills), key=lambda pair: pair[0])
        return reply(w.TradeBookReply(status="success", message="Trade book", data=[r for _, r in rows]))

    async def order_margin(self, request: web.Request) -> web.Response:
        body = request[BODY]
        spec = self._spec(_field(body, "exchange"), _field(body, "tradingSymbol"))
        qty = self._quantity(_field(body, "quantity"), spec)
        price = Decimal(_field(body, "price") or "0") or Decimal(repr(self.prev_close(spec.key)))
        free = self.exchange.account(OWNER).free.get("INR", Decimal(0))
        need = (qty * price * (Decimal("0.2") if _field(body, "product").upper() == "I" else 1)).quantize(Decimal("0.01"))
        data = w.MarginData(requiredMargin=money(need), availableMargin=money(free), marginShortfall=money(max(need - free, Decimal(0))),
                            requestTime=w.ist_text(self.clock.now_ns()))
        return reply(w.MarginReply(status="success", message="Order margin", data=data))

    async def product_conversion(self, request: web.Request) -> web.Response:
        body = request[BODY]
        spec = self._spec(_field(body, "exchange"), _field(body, "tradingSymbol"))
        old, new = _field(body, "previousProduct").upper(), _field(body, "product").upper()
        allowed = PRODUCTS.get(spec.exchange, ())
        if old not in allowed or new not in allowed or old == new:
            raise Refused(f"Cannot convert {old or '?'} to {new or '?'} on {spec.exchange}", field="product")
        qty = self._quantity(_field(body, "quantity"), spec)
        held = sum((f.qty for o in self.orders.values() if o.spec is spec and o.product == old for f in o.fills), Decimal(0))
        if qty > held:
            raise Refused(f"Only {held} of {spec.trading_symbol} in product {old}", field="quantity")
        moved = Decimal(0)
        for o in self.orders.values():
            if o.spec is spec and o.product == old and not o.is_open and moved < qty:
                o.product, moved = new, moved + o.filled
        return reply(w.Envelope(status="success", message="Product conversion successful"))

    # --- the orders' life ---------------------------------------------------------------------

    def add_fill(self, order: EmuOrder, fill: FillRecord) -> None:
        if fill not in order.fills:
            order.fills.append(fill)
            self.on_order_change(order, "Fill", fill)

    # --- checks -------------------------------------------------------------------------------

    def _spec(self, exchange: str, trading_symbol: str) -> ScripSpec:
        spec = self.scrips.get(scrip_key(exchange, trading_symbol))
        if spec is None:
            raise Refused(f"Invalid tradingSymbol {trading_symbol!r} for exchange {exchange!r}", field="tradingSymbol")
        return spec

    def _order(self, number: str) -> EmuOrder:
        order = self.orders.get(number)
        if order is None:
            raise Refused(f"Order not found: {number!r}", name="ORDER_NOT_FOUND", field="orderNumber")
        return order

    @staticmethod
    def _quantity(text: str, spec: ScripSpec) -> Decimal:
        try:
            return whole_lots(text, spec.lot, spec.freeze)
        except Unfit as exc:
            raise Refused(str(exc), field="quantity") from None

    def _price(self, text: str, spec: ScripSpec, what: str) -> Decimal:
        try:
            price = on_tick(text, spec.tick, what)
        except Unfit as exc:
            raise Refused(str(exc), field=what) from None
        close = Decimal(repr(self.prev_close(spec.key)))
        if not close * Decimal("0.8") <= price <= close * Decimal("1.2"):
            raise Refused(f"The {what} {price} is outside the circuit limits", field=what)
        return price
