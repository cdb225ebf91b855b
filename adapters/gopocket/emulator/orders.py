"""The emulated GoPocket's order desk: place (a JSON array), modify, cancel, bracket exit, square-off,
margin, the order book, the trade book and an order's history.

The SDK's field names; numbers as strings or numbers; strict checks (instrument by exchange and
token, side, order type, lot multiple, tick, product per exchange, complexity, validity DAY/IOC).
Market hours from india's calendar on the emulator's clock: outside them only orderComplexity AMO is
taken ("AFTER MARKET ORDER REQ RECEIVED"), reaching the matching engine at the next open; during
them an AMO is taken as a regular order. A margin or holdings shortfall is accepted and shown
REJECTED with an RMS reason, as Noren does. CO and BO are modelled by their main leg only (the
stop-loss and target legs are checked, not worked); exit/sno cancels the main leg if still open.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
from aiohttp import web

from adapters.gopocket import schemas as w
from adapters.gopocket.emulator.gate import Refused, ok
from adapters.gopocket.emulator.market import (
    ORDER_TYPES,
    OWNER,
    PRODUCTS,
    EmuOrder,
    OrderNumbers,
    Spec,
    history_rows,
    order_row,
    trade_row,
)
from adapters.india import TradingCalendar
from adapters.simulation.emulation import Faults
from adapters.simulation.exchange import EmulatorClock, ExchangeError, FillRecord, SimExchange
from engine.events import OrderType, Side, TimeInForce

CLOSED_TEXT = "Market is closed; place it as an after market order (orderComplexity AMO)"
COMPLEXITIES = ("REGULAR", "AMO", "CO", "BO")
SIDES = {"BUY": Side.BUY, "B": Side.BUY, "SELL": Side.SELL, "S": Side.SELL}


def s(value: w.Opt) -> str:
    """A request value as text ("" for null); a JSON number as it was written."""
    if value is None:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value == int(value) else repr(value)
    return value.strip()


class OrderDesk:
    clock: EmulatorClock
    calendar: TradingCalendar
    exchange: SimExchange
    specs: dict[tuple[str, str], Spec]
    orders: dict[str, EmuOrder]
    faults: Faults
    _numbers: OrderNumbers
    _by_sim: dict[str, EmuOrder]

    def notify(self, order: EmuOrder, fill: FillRecord | None = None) -> None:
        raise NotImplementedError

    # --- routes -------------------------------------------------------------------------------

    async def place_order(self, request: web.Request) -> web.Response:
        items = self._items(await request.read())
        return ok([self._place(item) for item in items])

    async def square_off(self, request: web.Request) -> web.Response:
        items = self._items(await request.read())
        return ok([self._place(item) for item in items], "Square off placed")

    async def modify_order(self, request: web.Request) -> web.Response:
        try:
            req = w.decode_modify_request(await request.read())
        except msgspec.MsgspecError as exc:
            raise Refused(f"Invalid modify request: {exc}") from None
        order = self._order(s(req.brokerOrderId))
        if not order.is_open:
            raise Refused(f"Order cannot be modified as it is in {order.word()} status")
        kind = s(req.orderType).upper()
        if kind and ORDER_TYPES.get(kind) is not order.type:
            raise Refused("Order type cannot be modified")
        qty = self._quantity(s(req.quantity), order.spec) if s(req.quantity) else None
        priced, stop = order.type in (OrderType.LIMIT, OrderType.STOP_LIMIT), order.type in (OrderType.STOP_LIMIT, OrderType.STOP_MARKET)
        price = self._price(s(req.price), order.spec, "price") if priced and s(req.price) else None
        trigger = self._price(s(req.slTriggerPrice), order.spec, "trigger price") if stop and s(req.slTriggerPrice) else None
        if order.sim is not None:
            try:
                self.exchange.modify(OWNER, order.sim.id, qty=qty, price=price, trigger=trigger)
            except ExchangeError as exc:
                raise Refused(exc.message) from None
        order.qty, order.price, order.trigger = qty or order.qty, price or order.price, trigger or order.trigger
        self.notify(order)
        return ok([{"brokerOrderId": order.number, "requestTime": self._request_time()}], "Order modified")

    async def cancel_order(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            refs = w.decode_order_refs(body) if body.lstrip().startswith(b"[") else [w.decode_order_ref(body)]
        except msgspec.MsgspecError as exc:
            raise Refused(f"Invalid cancel request: {exc}") from None
        results = []
        for ref in refs:
            order = self._order(s(ref.brokerOrderId))
            if not order.is_open:
                raise Refused(f"Order cannot be cancelled as it is in {order.word()} status")
            self._cancel_now(order)
            results.append({"brokerOrderId": order.number, "requestTime": self._request_time()})
        return ok(results, "Order cancelled")

    async def exit_bracket(self, request: web.Request) -> web.Response:
        try:
            refs = w.decode_order_refs(await request.read())
        except msgspec.MsgspecError as exc:
            raise Refused(f"Invalid exit request: {exc}") from None
        results = []
        for ref in refs:
            order = self._order(s(ref.brokerOrderId))
            if order.complexity not in ("BO", "CO") or s(ref.orderComplexity).upper() != order.complexity:
                raise Refused("Invalid exit: only a bracket or cover order (orderComplexity BO or CO) is exited")
            if order.is_open:
                self._cancel_now(order)
            results.append({"brokerOrderId": order.number, "requestTime": self._request_time()})
        return ok(results, "Order exited")

    async def check_margin(self, request: web.Request) -> web.Response:
        try:
            req = w.decode_order_request(await request.read())
        except msgspec.MsgspecError as exc:
            raise Refused(f"Invalid margin request: {exc}") from None
        spec = self._spec(s(req.exchange), s(req.instrumentId))
        qty = self._quantity(s(req.quantity), spec)
        quote = self.exchange.market(spec.key).quote
        reference = Decimal(s(req.price) or "0") or Decimal(repr(quote.ask if quote is not None else spec.price))
        product = PRODUCTS.get(s(req.product).upper(), "CNC")
        required = (qty * reference * (Decimal("0.2") if product == "MIS" else 1)).quantize(Decimal("0.01"))
        free = self.exchange.account(OWNER).free.get("INR", Decimal(0))
        return ok([{"requiredMargin": f"{required:.2f}", "availableMargin": f"{free:.2f}",
                    "shortfall": f"{max(required - free, Decimal(0)):.2f}"}])

    async def order_book(self, request: web.Request) -> web.Response:
        return ok([order_row(o) for o in reversed(self.orders.values())])

    async def trade_book(self, request: web.Request) -> web.Response:
        rows = sorted(((f.id, trade_row(o, f)) for o in self.orders.values() for f in o.fills),
                      key=lambda pair: pair[0])
        return ok([r for _, r in rows])

    async def order_history(self, request: web.Request) -> web.Response:
        try:
            ref = w.decode_order_ref(await request.read())
        except msgspec.MsgspecError as exc:
            raise Refused(f"Invalid history request: {exc}") from None
        return ok(history_rows(self._order(s(ref.brokerOrderId))))

    # --- placing ------------------------------------------------------------------------------

    @staticmethod
    def _items(body: bytes) -> list[w.OrderRequest]:
        if not body.lstrip().startswith(b"["):
            raise Refused("The request body must be a JSON array of orders")
        try:
            items = w.decode_orders_request(body)
        except msgspec.MsgspecError as exc:
            raise Refused(f"Invalid order request: {exc}") from None
        if not items:
            raise Refused("No order in the request")
        return items

    def _place(self, req: w.OrderRequest) -> dict[str, Any]:
        spec = self._spec(s(req.exchange), s(req.instrumentId))
        side = SIDES.get(s(req.transactionType).upper())
        kind = ORDER_TYPES.get(s(req.orderType).upper())
        if side is None:
            raise Refused("Invalid transaction type")
        if kind is None:
            raise Refused("Invalid order type")
        qty = self._quantity(s(req.quantity), spec)
        price = self._price(s(req.price), spec, "price") if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
        stop = kind in (OrderType.STOP_LIMIT, OrderType.STOP_MARKET)
        trigger = self._price(s(req.slTriggerPrice), spec, "trigger price") if stop else None
        validity = s(req.validity).upper() or "DAY"
        if validity not in ("DAY", "IOC"):
            raise Refused("Invalid validity: DAY or IOC")
        product = PRODUCTS.get(s(req.product).upper())
        if product is None or (product == "CNC" and spec.exchange in ("NFO", "BFO", "MCX", "CDS")):
            raise Refused(f"Invalid product {s(req.product)} for {spec.exchange}")
        complexity = s(req.orderComplexity).upper() or "REGULAR"
        if complexity not in COMPLEXITIES:
            raise Refused("Invalid order complexity: REGULAR, AMO, CO or BO")
        if complexity == "BO" and not (s(req.targetLegPrice) and s(req.slLegPrice)):
            raise Refused("Invalid bracket order: it needs targetLegPrice and slLegPrice")
        if complexity == "CO" and not (s(req.slLegPrice) or s(req.slTriggerPrice)):
            raise Refused("Invalid cover order: it needs slLegPrice or slTriggerPrice")
        now = self.clock.now_ns()
        market_open = self.calendar.is_open(spec.exchange, now)
        if not market_open and complexity != "AMO":
            raise Refused(CLOSED_TEXT)
        order = EmuOrder(
            number=self._numbers.next(now), spec=spec, side=side, type=kind, product=product, complexity=complexity,
            validity=validity, qty=qty, price=price, trigger=trigger, placed_ns=now, tag=s(req.orderTag) or None,
            target=s(req.targetLegPrice), stop_loss=s(req.slLegPrice),
        )
        self.orders[order.number] = order
        if market_open:
            self._submit(order)
        else:
            order.state = "amo"
            order.release_ns = self.calendar.next_open(spec.exchange, now)
        self.notify(order)
        return {"brokerOrderId": order.number, "requestTime": self._request_time(), "orderTag": order.tag}

    def _submit(self, order: EmuOrder) -> None:
        """Into the matching engine; a margin or holdings shortfall is an RMS rejection."""
        now = self.clock.now_ns()
        expires = self.calendar.session_close(order.spec.exchange, now) if order.validity == "DAY" else None
        try:
            sim = self.exchange.place(
                OWNER, symbol=order.spec.key, side=order.side, type=order.type, qty=order.qty, price=order.price,
                trigger=order.trigger, tif=TimeInForce.IOC if order.validity == "IOC" else TimeInForce.DAY, expires_ns=expires,
            )
        except ExchangeError as exc:
            order.state = "rejected"
            order.reason = self._rms_text(order) if exc.kind == "insufficient_funds" else f"RMS:{exc.message}"
            return
        order.sim = sim
        self._by_sim[sim.id] = order
        for fill in self.exchange.fills.get(OWNER, []):
            if fill.order_id == sim.id and fill not in order.fills:
                self.add_fill(order, fill)

    def add_fill(self, order: EmuOrder, fill: FillRecord) -> None:
        order.fills.append(fill)
        self.notify(order, fill)  # held or duplicated by the fault knobs on the socket, not in the books

    def _cancel_now(self, order: EmuOrder) -> None:
        if order.sim is None:
            order.state = "cancelled"
            self.notify(order)
        else:
            self.exchange.cancel(OWNER, order.sim.id)

    def _release_and_expire(self, now: int) -> None:
        for order in [o for o in self.orders.values() if o.state == "amo" and o.release_ns <= now]:
            if self.calendar.is_open(order.spec.exchange, now):
                order.state = ""
                self._submit(order)
                self.notify(order)
        self.exchange.expire()

    # --- helpers ------------------------------------------------------------------------------

    def _request_time(self) -> str:
        return w.ist_text(self.clock.now_ns(), "%H:%M:%S %d-%m-%Y")

    def _rms_text(self, order: EmuOrder) -> str:
        account = self.exchange.account(OWNER)
        if order.side is Side.SELL:
            held = account.free.get(order.spec.key.split(":", 1)[1], Decimal(0))
            return f"RMS:Insufficient holdings: {order.qty} {order.spec.trading_symbol} to sell, {held} available"
        return f"RMS:Margin Exceeds, Available:{account.free.get('INR', Decimal(0)):.2f} for {order.spec.trading_symbol}"

    def _spec(self, exchange: str, instrument: str) -> Spec:
        spec = self.specs.get((exchange.upper(), instrument.upper()))
        if spec is None:
            raise Refused(f"Invalid instrument {instrument} for exchange {exchange}")
        return spec

    def _order(self, number: str) -> EmuOrder:
        order = self.orders.get(number)
        if order is None:
            raise Refused(f"Invalid broker order id {number}: order not found")
        return order

    @staticmethod
    def _quantity(text: str, spec: Spec) -> Decimal:
        try:
            qty = Decimal(text)
        except InvalidOperation:
            raise Refused(f"Invalid quantity {text!r}") from None
        if qty <= 0 or qty != qty.to_integral_value():
            raise Refused(f"Invalid quantity {text!r}")
        if qty % spec.lot:
            raise Refused(f"Quantity should be a multiple of the lot size {spec.lot}")
        return qty

    @staticmethod
    def _price(text: str, spec: Spec, what: str) -> Decimal:
        try:
            price = Decimal(text)
        except InvalidOperation:
            raise Refused(f"Invalid {what} {text!r}") from None
        if price <= 0:
            raise Refused(f"Invalid {what} {text!r}")
        if price % Decimal(spec.tick):
            raise Refused(f"The {what} should be a multiple of the tick size {spec.tick}")
        return price
