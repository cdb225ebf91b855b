"""The emulated Samco's order desk: placeOrder, modifyOrder, cancelOrder, the order and trade books.

Samco's field names, every value a string, strict checks (symbol, lot multiple, tick, product per
exchange, validity DAY/IOC). Market hours from india's calendar: outside them an order without
`afterMarketOrderFlag: YES` is a Failure ("Market is closed"); an after-market order is "After
market order req received" and reaches the matching engine at the next open. A margin shortfall is
accepted and shown Rejected with an RMS rejectionReason (`rms_after_ack`: answered PENDING, the RMS
decides a tick later). `cancel_delay_s`: a cancel is accepted at once and carried out that much
later on the emulator's clock. `minimal_trade_book`: rows without tradeNumber and tradeQuantity.
`faults.hold_pushes`: trades made meanwhile stay out of the trade book (a trade book behind the
order book) until `faults.release_pushes()`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
from aiohttp import web

from adapters.india import Exchange, TradingCalendar
from adapters.samco import schemas as w
from adapters.samco.emulator.gate import CLAIMS, NS, OWNER, Refused, reply
from adapters.samco.emulator.market import ORDER_TYPES, EmuOrder, ScripSpec, details, order_row, trade_row
from adapters.simulation.emulation import Faults
from adapters.simulation.exchange import EmulatorClock, ExchangeError, FillRecord, SimExchange
from adapters.simulation.india_market import OrderNumbers, Unfit, on_tick, rms_text, scrip_key, whole_lots
from adapters.simulation.matching import SimOrder
from engine.events import Side, TimeInForce

CLOSED_TEXT = "Market is closed. Place it as an after market order (afterMarketOrderFlag YES)."
PRODUCTS = {Exchange.NSE: ("CNC", "MIS"), Exchange.BSE: ("CNC", "MIS"), Exchange.NFO: ("NRML", "MIS")}


class OrderDesk:
    """The order routes and the orders' life at the exchange, mixed into the emulator."""

    clock: EmulatorClock
    calendar: TradingCalendar
    exchange: SimExchange
    scrips: dict[str, ScripSpec]
    orders: dict[str, EmuOrder]
    rms_after_ack: bool
    cancel_delay_s: float
    minimal_trade_book: bool
    faults: Faults
    _numbers: OrderNumbers
    _by_sim: dict[str, EmuOrder]

    def _ok(self, message: str) -> dict[str, Any]:
        """The success envelope's fields (the gate's)."""
        raise NotImplementedError

    # --- orders -------------------------------------------------------------------------------

    async def place_order(self, request: web.Request) -> web.Response:
        try:
            req = w.decode_order_request(await request.read())
        except msgspec.MsgspecError as exc:
            raise Refused(f"Invalid order request: {exc}") from None
        spec = self._spec(req.exchange, req.symbolName)
        side = {"BUY": Side.BUY, "SELL": Side.SELL}.get(req.transactionType.upper())
        if side is None:
            raise Refused("Invalid transaction type")
        type_code = req.orderType.upper()
        if type_code not in ORDER_TYPES:
            raise Refused("Invalid order type")
        qty = self._quantity(req.quantity, spec)
        price = self._price(req.price, spec, "price") if type_code in ("L", "SL") else None
        trigger = self._price(req.triggerPrice, spec, "trigger price") if type_code in ("SL", "SL-M") else None
        validity = req.orderValidity.upper()
        if validity not in ("DAY", "IOC"):
            raise Refused("Invalid order validity")
        product = req.productType.upper()
        if product not in PRODUCTS.get(Exchange(spec.exchange), ()):
            raise Refused(f"Invalid product type {req.productType} for {spec.exchange}")
        amo = req.afterMarketOrderFlag.upper() == "YES"
        now = self.clock.now_ns()
        market_open = self.calendar.is_open(spec.exchange, now)
        if not market_open and not amo:
            raise Refused(CLOSED_TEXT)
        order = EmuOrder(
            number=self._numbers.next(now), spec=spec, side=side, type_code=type_code, product=product,
            validity=validity, qty=qty, price=price, trigger=trigger, amo=amo, placed_ns=now,
            token_id=str(request[CLAIMS].get("jti")),
        )
        self.orders[order.number] = order
        if market_open and self.rms_after_ack:
            order.state = "ack"  # the RMS looks at it on the next tick
        elif market_open:
            self._submit(order)
        else:
            order.state = "amo"
            order.release_ns = self.calendar.next_open(spec.exchange, now)
        return reply(
            w.PlaceReply(
                **self._ok("Order placed successfully"), orderNumber=order.number,
                exchangeOrderStatus=order.ack_word(), orderDetails=details(order),
            )
        )

    async def modify_order(self, request: web.Request) -> web.Response:
        order = self._order(request.match_info["number"])
        try:
            req = w.decode_modify_request(await request.read())
        except msgspec.MsgspecError as exc:
            raise Refused(f"Invalid modify request: {exc}") from None
        if not order.is_open:
            raise Refused(f"Order cannot be modified as it is in {order.word()} status")
        if req.orderType and req.orderType.upper() != order.type_code:
            raise Refused("Order type cannot be modified")
        qty = self._quantity(req.quantity, order.spec) if req.quantity else None
        price = self._price(req.price, order.spec, "price") if req.price and order.type_code in ("L", "SL") else None
        trigger = self._price(req.triggerPrice, order.spec, "trigger price") if req.triggerPrice and order.type_code in ("SL", "SL-M") else None
        if order.sim is not None:
            try:
                self.exchange.modify(OWNER, order.sim.id, qty=qty, price=price, trigger=trigger)
            except ExchangeError as exc:
                raise Refused(self._rms_text(order, exc) if exc.kind == "insufficient_funds" else exc.message) from None
        order.qty, order.price, order.trigger = qty or order.qty, price or order.price, trigger or order.trigger
        return reply(
            w.PlaceReply(
                **self._ok("Order modified successfully"), orderNumber=order.number,
                exchangeOrderStatus=order.ack_word(), orderDetails=details(order),
            )
        )

    async def cancel_order(self, request: web.Request) -> web.Response:
        order = self._order(request.query.get("orderNumber", ""))
        if not order.is_open:
            raise Refused(f"Order cannot be cancelled as it is in {order.word()} status")
        if self.cancel_delay_s > 0 and order.sim is not None:
            if order.cancel_at_ns is None:
                order.cancel_at_ns = self.clock.now_ns() + int(self.cancel_delay_s * NS)
        else:
            self._cancel_now(order)
        return reply(w.CancelReply(**self._ok("Order cancelled successfully"), orderNumber=order.number))

    def _cancel_now(self, order: EmuOrder) -> None:
        if not order.is_open:
            return  # it filled (or expired) before the exchange got the cancel
        if order.sim is None:
            order.state = "cancelled"
        else:
            self.exchange.cancel(OWNER, order.sim.id)

    async def order_book(self, request: web.Request) -> web.Response:
        rows = [order_row(o) for o in self.orders.values()]
        return reply(w.OrderBookReply(**self._ok("Order Book details retrieved successfully"), orderBookDetails=rows))

    async def order_status(self, request: web.Request) -> web.Response:
        order = self._order(request.query.get("orderNumber", ""))
        return reply(
            w.OrderStatusReply(
                **self._ok("Order status retrieved successfully"), orderNumber=order.number,
                orderStatus=order.word(), orderDetails=details(order),
            )
        )

    async def trade_book(self, request: web.Request) -> web.Response:
        minimal = self.minimal_trade_book
        withheld = self.faults.withheld
        rows = sorted(
            ((f.id, trade_row(o, f, minimal=minimal)) for o in self.orders.values() for f in o.fills if f.id not in withheld),
            key=lambda pair: pair[0],
        )
        return reply(w.TradeBookReply(**self._ok("Trade Book details retrieved successfully"), tradeBookDetails=[r for _, r in rows]))

    def _release_and_expire(self, now: int) -> None:
        for order in [o for o in self.orders.values() if o.state == "amo" and o.release_ns <= now]:
            if self.calendar.is_open(order.spec.exchange, now):
                order.state = ""
                self._submit(order)
        for order in [o for o in self.orders.values() if o.state == "ack"]:
            order.state = ""
            self._submit(order)  # the RMS after the acknowledgement
        for order in [o for o in self.orders.values() if o.cancel_at_ns is not None and o.cancel_at_ns <= now]:
            order.cancel_at_ns = None
            self._cancel_now(order)
        self.exchange.expire()

    # --- helpers ------------------------------------------------------------------------------

    def _submit(self, order: EmuOrder) -> None:
        """Into the matching engine; a margin or holdings shortfall is an RMS rejection."""
        now = self.clock.now_ns()
        expires = self.calendar.session_close(order.spec.exchange, now) if order.validity == "DAY" else None
        try:
            sim: SimOrder = self.exchange.place(
                OWNER, symbol=order.spec.key, side=order.side, type=order.type, qty=order.qty, price=order.price,
                trigger=order.trigger, tif=TimeInForce.IOC if order.validity == "IOC" else TimeInForce.DAY, expires_ns=expires,
            )
        except ExchangeError as exc:
            order.state = "rejected"
            order.reason = self._rms_text(order, exc) if exc.kind == "insufficient_funds" else f"RMS:{exc.message}"
            return
        order.sim = sim
        self._by_sim[sim.id] = order
        for fill in self.exchange.fills.get(OWNER, []):
            if fill.order_id == sim.id and fill not in order.fills:
                self.add_fill(order, fill)  # fills made inside place(), before the order was known

    def add_fill(self, order: EmuOrder, fill: FillRecord) -> None:
        """A fill of our order; while `faults.hold_pushes`, the trade book does not show it yet."""
        order.fills.append(fill)
        if self.faults.hold_pushes:
            self.faults.withheld.add(fill.id)

    def _rms_text(self, order: EmuOrder, exc: ExchangeError) -> str:
        text = rms_text(self.exchange, OWNER, order)
        return text if order.side is Side.SELL else f"{text} for {order.spec.trading_symbol}"

    def _spec(self, exchange: str, symbol: str) -> ScripSpec:
        spec = self.scrips.get(scrip_key(exchange, symbol))
        if spec is None:
            raise Refused(f"Invalid symbol name {symbol} for exchange {exchange.upper()}")
        return spec

    def _order(self, number: str) -> EmuOrder:
        order = self.orders.get(number)
        if order is None:
            raise Refused(f"Invalid order number {number}")
        return order

    @staticmethod
    def _quantity(text: str, spec: ScripSpec) -> Decimal:
        try:
            return whole_lots(text, spec.lot)
        except Unfit as exc:
            raise Refused(str(exc)) from None

    @staticmethod
    def _price(text: str, spec: ScripSpec, what: str) -> Decimal:
        try:
            return on_tick(text, spec.tick, what)
        except Unfit as exc:
            raise Refused(str(exc)) from None
