"""The emulated GOPAX's order desk: balances, orders (place, look up, cancel, by id and by client
id) and own trades, with GOPAX's refusals and error codes. Finished orders stay visible ten minutes."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

import msgspec
from aiohttp import web

from adapters.gopax import schemas as w
from adapters.gopax.emulator.gate import OWNER_KEY, error, reply
from adapters.gopax.emulator.market import (
    VISIBLE_AFTER_DONE_NS,
    OrderMeta,
    PairSpec,
    PublicBook,
    own_trade,
    rest_order,
    tick_for,
    window,
)
from adapters.simulation.exchange import EmulatorClock, ExchangeError, SimExchange
from adapters.simulation.matching import SimOrder
from engine.events import OrderType, Side, TimeInForce

OWNER = "demo"
MIN_ORDER_KRW = Decimal(1000)
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,20}")
ORDER_TYPES = {"limit": OrderType.LIMIT, "market": OrderType.MARKET}
TIFS = {"gtc": TimeInForce.GTC, "po": TimeInForce.POST_ONLY, "ioc": TimeInForce.IOC, "fok": TimeInForce.FOK}
EXCHANGE_ERRORS = {
    "insufficient_funds": (400, 201),
    "duplicate_client_id": (400, 10222),
    "unknown_instrument": (400, 101),
    "market_closed": (400, 105),
    "not_found": (404, 10069),
}




class OrderDesk:
    """The private REST endpoints, mixed into the emulator (whose state they read)."""

    exchange: SimExchange
    clock: EmulatorClock
    pairs: dict[str, PairSpec]
    books: dict[str, PublicBook]
    meta: dict[str, OrderMeta]
    placement_status: str | None

    def now_ms(self) -> int:
        raise NotImplementedError

    # --- REST: account ------------------------------------------------------------------------

    async def get_balances(self, request: web.Request) -> web.Response:
        account = self.exchange.account(request[OWNER_KEY])
        return reply([self._balance(request[OWNER_KEY], asset) for asset in account.assets()])

    async def get_balance(self, request: web.Request) -> web.Response:
        asset = request.match_info["asset"]
        if asset not in self.exchange.account(request[OWNER_KEY]).assets():
            return error(404, 100)
        return reply(self._balance(request[OWNER_KEY], asset))

    # --- REST: orders -------------------------------------------------------------------------

    async def get_orders(self, request: web.Request) -> web.Response:
        q = request.query
        past = q.get("includePast", "false").lower() == "true"
        orders = [o for o in self.exchange.orders(request[OWNER_KEY]) if o.is_open or (past and self._visible(o))]
        if "tradingPairName" in q:
            orders = [o for o in orders if o.instrument == q["tradingPairName"]]
        if "status" in q:
            orders = [o for o in orders if rest_order(o, self._meta(o)).status == q["status"]]
        if q.get("since", "").isdigit():
            since = int(q["since"]) * 1_000_000
            by_update = q.get("filterByUpdatedAt", "false").lower() == "true"
            orders = [o for o in orders if (self._meta(o).updated_ns if by_update else o.created_ns) >= since]
        if q.get("limit", "").isdigit():
            n = int(q["limit"])
            orders = orders[-n:] if q.get("tail", "false").lower() == "true" else orders[:n]
        return reply([rest_order(o, self._meta(o)) for o in orders])

    async def get_order(self, request: web.Request) -> web.Response:
        found = self._order(request[OWNER_KEY], request.match_info["order_id"])
        return found if isinstance(found, web.Response) else reply(rest_order(found, self._meta(found)))

    async def get_order_by_client_id(self, request: web.Request) -> web.Response:
        found = self._order_by_client_id(request[OWNER_KEY], request.match_info["cid"])
        return found if isinstance(found, web.Response) else reply(rest_order(found, self._meta(found)))

    async def post_order(self, request: web.Request) -> web.Response:
        try:
            req = w.decode_order_request(await request.read())
        except msgspec.MsgspecError as exc:
            return error(400, 10256, data=str(exc))
        refusal = self._refuse_order(req)
        if refusal is not None:
            return refusal
        spec = self.pairs[req.tradingPairName]
        side = Side(req.side)
        kind = ORDER_TYPES[req.type]
        if kind is OrderType.LIMIT and req.stopPrice is not None:
            kind = OrderType.STOP_LIMIT
        market_buy = kind is OrderType.MARKET and side is Side.BUY
        try:
            order = self.exchange.place(
                request[OWNER_KEY], symbol=spec.name, side=side, type=kind, qty=req.amount,
                price=req.price if kind is not OrderType.MARKET else None, trigger=req.stopPrice,
                tif=TIFS[req.timeInForce or "gtc"] if kind is not OrderType.MARKET else TimeInForce.GTC,
                notional=req.amount if market_buy else None, client_id=req.clientOrderId,
            )
        except ExchangeError as exc:
            status, code = EXCHANGE_ERRORS.get(exc.kind, (400, 107))
            return error(status, code, data=exc.message)
        meta = self._meta(order)
        meta.protection = req.protection or "no"
        answer = rest_order(order, meta)
        if self.placement_status is not None:
            answer = msgspec.structs.replace(answer, status=self.placement_status)
        return reply(answer)

    def _refuse_order(self, req: w.OrderRequest) -> web.Response | None:
        spec = self.pairs.get(req.tradingPairName)
        if spec is None:
            return error(400, 101)
        if req.side not in ("buy", "sell"):
            return error(400, 10359)
        if req.type not in ORDER_TYPES:
            return error(400, 103)
        if req.timeInForce is not None and req.timeInForce not in TIFS:
            return error(400, 10361)
        if req.protection not in (None, "yes", "no"):
            return error(400, 10362)
        if req.clientOrderId is not None and not CLIENT_ID.fullmatch(req.clientOrderId):
            return error(400, 10227)
        limit = req.type == "limit"
        market_buy = req.type == "market" and req.side == "buy"
        scale = spec.quote_scale if market_buy else spec.base_scale
        if req.amount <= 0 or req.amount.as_tuple().exponent < -scale:  # type: ignore[operator]
            return error(400, 107)
        if not limit and req.stopPrice is not None:
            return error(400, 206)  # stop orders must be limit orders
        if req.protection == "yes" and req.timeInForce in ("ioc", "fok"):
            return error(400, 206)
        for price in (req.price, req.stopPrice) if limit else ():
            if price is not None and (price <= 0 or price % tick_for(price) != 0):
                return error(400, 108)
        if limit and req.price is None:
            return error(400, 108)
        value = self._order_value(req, spec)
        if value is not None and value < MIN_ORDER_KRW:
            return error(400, 10212)
        return None

    def _order_value(self, req: w.OrderRequest, spec: PairSpec) -> Decimal | None:
        if req.type == "limit":
            return req.amount * req.price  # type: ignore[operator]
        if req.side == "buy":
            return req.amount
        top = self.books[spec.name].side(True, 1)
        return req.amount * Decimal(repr(top[0].price)) if top else None

    async def delete_order(self, request: web.Request) -> web.Response:
        found = self._order(request[OWNER_KEY], request.match_info["order_id"])
        return found if isinstance(found, web.Response) else self._cancel(found)

    async def delete_order_by_client_id(self, request: web.Request) -> web.Response:
        found = self._order_by_client_id(request[OWNER_KEY], request.match_info["cid"])
        return found if isinstance(found, web.Response) else self._cancel(found, by_client_id=True)

    def _cancel(self, order: SimOrder, *, by_client_id: bool = False) -> web.Response:
        if not order.is_open:
            if by_client_id:
                return error(404, 10221, data=order.client_id)
            return error(404, 10069, f"No such order ID: {order.id}", order.id)
        self.exchange.cancel(order.owner, order.id)
        return reply({})

    def _order(self, owner: str, order_id: str) -> SimOrder | web.Response:
        if not order_id.isdigit():
            return error(404, 202, data=order_id)
        missing = error(404, 10069, f"No such order ID: {order_id}", order_id)
        return self._visible_or(lambda: self.exchange.order(owner, order_id), missing)

    def _order_by_client_id(self, owner: str, client_id: str) -> SimOrder | web.Response:
        return self._visible_or(lambda: self.exchange.order_by_client_id(owner, client_id), error(404, 10221, data=client_id))

    def _visible_or(self, find: Callable[[], SimOrder], missing: web.Response) -> SimOrder | web.Response:
        try:
            order = find()
        except ExchangeError:
            return missing
        return order if self._visible(order) else missing

    def _visible(self, order: SimOrder) -> bool:
        """Working, or finished less than 10 minutes ago."""
        finished = self._meta(order).finished_ns
        return order.is_open or finished is None or self.clock.now_ns() - finished <= VISIBLE_AFTER_DONE_NS

    async def get_trades(self, request: web.Request) -> web.Response:
        fills = self.exchange.fills.get(request[OWNER_KEY], [])
        pair = request.query.get("tradingPairName")
        rows = window((f for f in fills if pair is None or f.instrument == pair), lambda f: f.id, lambda f: f.ts_ns, request.query)
        return reply([own_trade(f) for f in rows])

    def _balance(self, owner: str, asset: str) -> w.Balance:
        account = self.exchange.account(owner)
        return w.Balance(
            asset=asset, avail=account.free.get(asset, Decimal(0)), hold=account.locked.get(asset, Decimal(0)),
            pendingWithdrawal=Decimal(0), lastUpdatedAt=str(self.now_ms()),
        )

    def _meta(self, order: SimOrder) -> OrderMeta:
        meta = self.meta.get(order.id)
        if meta is None:
            meta = self.meta[order.id] = OrderMeta(updated_ns=order.created_ns)
        return meta

