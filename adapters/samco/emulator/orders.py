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

from adapters.india import Exchange
from adapters.samco import schemas as w
from adapters.samco.emulator.gate import CLAIMS, OWNER, Refused, reply
from adapters.samco.emulator.market import ORDER_TYPES, EmuOrder, ScripSpec, details, order_row, trade_row
from adapters.simulation.emulation import Faults
from adapters.simulation.exchange import ExchangeError, FillRecord
from adapters.simulation.india_emulator import OrderLife
from adapters.simulation.india_market import OrderNumbers, Unfit, on_tick, scrip_key, whole_lots
from engine.events import Side

CLOSED_TEXT = "Market is closed. Place it as an after market order (afterMarketOrderFlag YES)."
PRODUCTS = {Exchange.NSE: ("CNC", "MIS"), Exchange.BSE: ("CNC", "MIS"), Exchange.NFO: ("NRML", "MIS")}


class OrderDesk(OrderLife[EmuOrder]):
    """The order routes, mixed into the emulator; the orders' life at the exchange is the shared
    `OrderLife` (nothing is pushed: an order's state is read from the books)."""

    scrips: dict[str, ScripSpec]
    rms_after_ack: bool
    minimal_trade_book: bool
    faults: Faults
    _numbers: OrderNumbers

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
                raise Refused(self._rms_text(order) if exc.kind == "insufficient_funds" else exc.message) from None
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
        self._cancel(order)
        return reply(w.CancelReply(**self._ok("Order cancelled successfully"), orderNumber=order.number))

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

    # --- helpers ------------------------------------------------------------------------------

    def add_fill(self, order: EmuOrder, fill: FillRecord) -> None:
        """A fill of our order; while `faults.hold_pushes`, the trade book does not show it yet."""
        order.fills.append(fill)
        if self.faults.hold_pushes:
            self.faults.withheld.add(fill.id)

    def _rms_text(self, order: EmuOrder) -> str:
        text = super()._rms_text(order)
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
