"""A strict Samco emulator: Samco's REST API and streaming socket on loopback, over the shared market.

The app and its routes, the account and market-data answers. The door (session token, static IP,
rate limits) is gate.py's, the order desk orders.py's, the market as Samco shows it market.py's, the
streaming server (/stream) ws.py's; the market behind it, its start and stop, housekeeping and the
exchange's news are the shared `adapters.simulation.india_emulator.IndiaEmulator`'s.

- Market: `SimExchange` (seeded random walk, the shared matching engine, one funded account with
  the demo holdings), told to the emulator as typed events (QuoteTicked -> the stream, PublicTraded
  -> the day's statistics, OrderFilled -> the order's fills).
- Faults: `faults` (latency, error rate, 5xx bursts, `ws_drop_after`) and `faults.lose_write_responses`
  (an order request is carried out, then answered 503: the outcome-unknown case).
- Clock: `start` (an aware datetime, IST if naive) fixes where the emulator's clock begins.
"""

from __future__ import annotations

import random
from datetime import datetime
from decimal import Decimal

from aiohttp import web

from adapters.india import IST, ist_date, to_ns
from adapters.samco import schemas as w
from adapters.samco.client import ORDER_ENTRY
from adapters.samco.emulator.gate import NS, OWNER, Gate, Handler, Refused, fault_response, reply
from adapters.samco.emulator.market import (
    SCRIPS,
    EmuOrder,
    ScripSpec,
    depth_tick,
    position_rows,
    quote_reply,
    quote_tick,
)
from adapters.samco.emulator.orders import OrderDesk
from adapters.samco.emulator.ws import StreamServer
from adapters.samco.scrip import render
from adapters.simulation.emulation import fault_middleware
from adapters.simulation.india_emulator import IndiaEmulator
from adapters.simulation.india_market import OrderNumbers, candle_buckets

DEFAULT_FUNDS = Decimal(10_000_000)  # one crore rupees
DEFAULT_HOLDINGS = {"RELIANCE": (Decimal(100), Decimal("1210.40")), "INFY": (Decimal(50), Decimal("1460.00")),
                    "TCS": (Decimal(20), Decimal("3325.50")), "SBIN": (Decimal(200), Decimal("805.25"))}


class SamcoEmulator(Gate, OrderDesk, IndiaEmulator[ScripSpec, EmuOrder]):
    venue = "samco"
    owner = OWNER
    ws_path = "/stream"
    stream: StreamServer

    def __init__(
        self,
        *,
        seed: int = 1,
        start: datetime | None = None,
        funds: Decimal = DEFAULT_FUNDS,
        registered_ips: list[str] | None = None,
        tick_interval_s: float = 0.1,
        scrips: tuple[ScripSpec, ...] = SCRIPS,
        log_requests: bool = False,
    ) -> None:
        super().__init__(scrips, seed=seed, start=start, funds=funds, holdings=DEFAULT_HOLDINGS,
                         tick_interval_s=tick_interval_s, log_requests=log_requests)
        self.by_token = {s.token: s for s in scrips}
        rng = random.Random(seed)
        self.api_key = "".join(rng.choice("0123456789abcdef") for _ in range(32))
        self.api_secret = "".join(rng.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") for _ in range(40))
        self.init_gate(rng.randbytes(32), registered_ips)
        self.rms_after_ack = False
        self.minimal_trade_book = False
        self.stream = StreamServer(self, self.faults)
        self._numbers = OrderNumbers(digits=9)  # yymmdd + nine digits ("261120000000001")

    # --- EmulatorServer -----------------------------------------------------------------------

    def credentials(self) -> dict[str, str]:
        return {"api_key": self.api_key, "api_secret": self.api_secret, "client_id": OWNER, "funds_inr": str(self.funds)}

    def build_app(self) -> web.Application:
        exempt = lambda request: request.path == self.ws_path  # noqa: E731 - the socket has its own faults
        app = web.Application(
            middlewares=[
                self.log_middleware,
                fault_middleware(self.faults, fault_response, exempt=exempt, is_write=lambda r: r.path.startswith(ORDER_ENTRY)),
                *self.gate_middlewares(),
            ]
        )
        get, post, put, delete = "GET", "POST", "PUT", "DELETE"
        routes: list[tuple[str, str, Handler]] = [
            (post, "/session/token", self.session_token),
            (get, "/ScripMaster.csv", self.scrip_master),
            (get, "/ip/whoami", self.whoami),
            (delete, "/logout", self.logout),
            (post, "/order/placeOrder", self.place_order),
            (put, "/order/modifyOrder/{number}", self.modify_order),
            (delete, "/order/cancelOrder", self.cancel_order),
            (get, "/order/orderBook", self.order_book),
            (get, "/order/getOrderStatus", self.order_status),
            (get, "/trade/tradeBook", self.trade_book),
            (get, "/position/getPositions", self.positions),
            (get, "/holding/getHoldings", self.holdings),
            (get, "/limit/getLimits", self.limits),
            (get, "/quote/getQuote", self.quote),
            (get, "/intraday/candleData", self.intraday_candles),
            (get, "/history/candleData", self.historical_candles),
            (get, "/eqDervSearch/search", self.search),
            (get, self.ws_path, self.stream.handle),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        return app

    # --- account ------------------------------------------------------------------------------

    async def scrip_master(self, request: web.Request) -> web.Response:
        return web.Response(text=render(s.scrip() for s in self.scrips.values()), content_type="text/csv")

    async def positions(self, request: web.Request) -> web.Response:
        kind = request.query.get("positionType", "").upper()
        if kind not in ("DAY", "NET"):
            raise Refused("Invalid position type: DAY or NET")
        marks = {key: self._last(key) for key in self.scrips}
        today = ist_date(self.clock.now_ns()).toordinal()
        rows = position_rows(self.orders.values(), kind, today, marks)
        return reply(w.PositionsReply(**self._ok("Position details retrieved successfully"), positionDetails=rows))

    async def holdings(self, request: web.Request) -> web.Response:
        account = self.exchange.account(OWNER)
        rows = []
        total = Decimal(0)
        for key, spec in self.scrips.items():
            qty = account.total(spec.symbol) if spec.kind == "equity" else Decimal(0)
            if qty <= 0:
                continue
            ltp = Decimal(repr(self._last(key))).quantize(Decimal("0.01"))
            avg = DEFAULT_HOLDINGS.get(spec.symbol, (qty, ltp))[1]
            total += qty * ltp
            rows.append(
                w.HoldingRow(
                    tradingSymbol=spec.trading_symbol, exchange=spec.exchange, productCode="CNC", averagePrice=f"{avg:.2f}",
                    lastTradedPrice=f"{ltp:.2f}", previousClose=f"{spec.price:.2f}", holdingsQuantity=str(int(qty)),
                    collateralQuantity="0", sellableQuantity=str(int(account.free.get(spec.symbol, 0))),
                    holdingsValue=f"{qty * ltp:.2f}", totalGainAndLoss=f"{qty * (ltp - avg):.2f}",
                )
            )
        summary = {"totalHoldingValue": f"{total:.2f}", "holdingsCount": str(len(rows))}
        return reply(w.HoldingsReply(**self._ok("Holding details retrieved successfully"), holdingSummary=summary, holdingDetails=rows))

    async def limits(self, request: web.Request) -> web.Response:
        account = self.exchange.account(OWNER)
        free, used = account.free.get("INR", Decimal(0)), account.locked.get("INR", Decimal(0))
        equity = w.Limit(
            grossAvailableMargin=f"{free + used:.2f}", payInToday="0.00", notionalCash=f"{free + used:.2f}",
            marginUsed=f"{used:.2f}", netAvailableMargin=f"{free:.2f}",
        )
        zero = w.Limit(grossAvailableMargin="0.00", payInToday="0.00", notionalCash="0.00", marginUsed="0.00", netAvailableMargin="0.00")
        return reply(w.LimitsReply(**self._ok("Limits retrieved successfully"), equityLimit=equity, commodityLimit=zero))

    # --- market data --------------------------------------------------------------------------

    async def quote(self, request: web.Request) -> web.Response:
        spec = self._spec(request.query.get("exchange", "NSE"), request.query.get("symbolName", ""))
        bids, asks = self.exchange.book(spec.key, 5)
        state = self.exchange.market(spec.key)
        return reply(quote_reply(spec, state, self._days[spec.key], bids, asks, self.clock.now_ns()))

    async def intraday_candles(self, request: web.Request) -> web.Response:
        q = request.query
        spec = self._spec(q.get("exchange", "NSE"), q.get("symbolName", ""))
        start = self._time(q.get("fromDate", ""), "%Y-%m-%d %H:%M:%S", "fromDate")
        end = self._time(q["toDate"], "%Y-%m-%d %H:%M:%S", "toDate") if q.get("toDate") else self.clock.now_ns()
        interval = q.get("interval", "1")
        if interval not in ("1", "5", "10", "15", "30", "60"):
            raise Refused("Invalid interval")
        rows = [
            w.IntradayCandle(dateTime=w.ist_text(ts, "%Y-%m-%d %H:%M:%S") + ".0", open=f"{o:.2f}", high=f"{h:.2f}",
                             low=f"{lo:.2f}", close=f"{c:.2f}", volume=str(int(v)))
            for ts, (o, h, lo, c, v) in candle_buckets(self.exchange.market(spec.key).trades, start, end, int(interval) * 60 * NS)
        ]
        return reply(w.IntradayReply(**self._ok("Intraday candle data retrieved successfully"), intradayCandleData=rows))

    async def historical_candles(self, request: web.Request) -> web.Response:
        q = request.query
        spec = self._spec(q.get("exchange", "NSE"), q.get("symbolName", ""))
        start = self._time(q.get("fromDate", ""), "%Y-%m-%d", "fromDate")
        end = self._time(q["toDate"], "%Y-%m-%d", "toDate") + 86_400 * NS - 1 if q.get("toDate") else self.clock.now_ns()
        rows = [
            w.HistoricalCandle(date=w.ist_text(ts, "%Y-%m-%d"), open=f"{o:.2f}", high=f"{h:.2f}", low=f"{lo:.2f}",
                               close=f"{c:.2f}", ltp=f"{c:.2f}", volume=str(int(v)))
            for ts, (o, h, lo, c, v) in candle_buckets(self.exchange.market(spec.key).trades, start, end, 86_400 * NS)
        ]
        return reply(w.HistoryReply(**self._ok("Historical candle data retrieved successfully"), historicalCandleData=rows))

    async def search(self, request: web.Request) -> web.Response:
        exchange = request.query.get("exchange", "").upper()
        text = request.query.get("searchSymbolName", "").upper()
        if not text:
            raise Refused("searchSymbolName is required")
        rows = [
            w.SearchRow(exchange=s.exchange, tradingSymbol=s.trading_symbol, name=s.name, instrument=s.instrument,
                        symbolCode=s.token, lotSize=str(s.lot), tickSize=s.tick, expiryDate=s.expiry, strikePrice=s.strike)
            for s in self.scrips.values()
            if text in s.trading_symbol.upper() and (not exchange or s.exchange == exchange)
        ]
        return reply(w.SearchReply(**self._ok("Search results retrieved successfully"), searchResults=rows))

    # --- the stream's questions ---------------------------------------------------------------

    def quote_text(self, token: str) -> str | None:
        spec = self.by_token.get(token)
        quote = self.exchange.market(spec.key).quote if spec is not None else None
        if spec is None or quote is None:
            return None
        return w.encode(quote_tick(spec, quote, self._days[spec.key])).decode()

    def depth_text(self, token: str) -> str | None:
        spec = self.by_token.get(token)
        if spec is None:
            return None
        bids, asks = self.exchange.book(spec.key, 5)
        frame = {"response": {"streaming_type": "quote2", "data": depth_tick(spec, bids, asks)}}
        return w.encode(frame).decode() + "\n"

    # --- the market's news --------------------------------------------------------------------

    def publish_quote(self, spec: ScripSpec) -> None:
        self.stream.publish(spec.token)

    @staticmethod
    def _time(text: str, fmt: str, what: str) -> int:
        try:
            return to_ns(datetime.strptime(text, fmt).replace(tzinfo=IST))
        except ValueError:
            raise Refused(f"Invalid {what} {text!r}: expected {fmt.replace('%', '')}") from None
