"""A strict smallcase Gateway emulator on loopback: the app and its routes, the SDK step, postbacks.

- API: create a transaction, its status (two paths), its order details, holdings; every call needs
  the gateway name in the path, `x-gateway-secret` and an HS256 auth token signed with the gateway
  secret, unexpired on the emulator's clock, carrying `exp` and either `guest: true` or a known
  `smallcaseAuthId` (holdings need the latter). Refusals are `{"success": false, "errors": [name],
  "data": null}` with 401 (secret, token), 403 (a guest asking for holdings), 404 (unknown
  transaction), 400 (a malformed request).
- The user's step: `GET|POST /sdk/{gateway}/{transactionId}` stands in for smallcase's SDK screens
  (the link the adapter logs). POST is the user acting (`{"action": "confirm"|"cancel"|"deny",
  "token": ...}`); on a step paused half-way it finishes it. GET opens the page; for a leprechaun
  account (a guest when `leprechaun`) opening it is what makes the virtual user act, by itself
  `complete_delay_s` later, as the partner's page opens smallcase's SDK for its user: a transaction
  whose link is never opened (its creation answer was lost) stays INITIALIZED. Begun after 5
  minutes on the emulator's clock the step fails with `transaction_expired` (once begun, it may
  finish later); a closed market with `market_closed` (NSE's calendar on the same clock, or
  `leprechaun_hours` for leprechaun accounts).
- Postbacks: to the URL registered at `POST /emulator/postback` (x-gateway-secret), when a
  transaction completes or errors, signed with the api secret in the configured scheme (feed.py).
- Knobs: `pause_at` ("USED", "ACTION_REQUIRED", "PROCESSING"): the user's step stops there until
  `resume(tx)` or another POST to the link; `gateway.order_details_lag`: reads of a completed
  transaction's order details that show no batches yet; `gateway.tradingsymbol_suffix` ("-EQ");
  `broken[transactionId] = status`: that transaction's status and order-details reads fail.
- Faults: `faults` (latency, error rate, 5xx bursts) on the API — a 404 is answered as a proxy or a
  wrong path would, plain text without smallcase's envelope — and `faults.lose_write_responses` (a
  transaction is created, then answered 503: the outcome-unknown case).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

import aiohttp
import msgspec
import structlog
from aiohttp import web

from adapters.simulation.emulation import EmulatorServer, Faults, fault_middleware
from adapters.simulation.exchange import EmulatorClock, SimExchange
from adapters.smallcase import schemas as w
from adapters.smallcase.auth import CHECKSUM_HEADER, checksum
from adapters.smallcase.emulator.gate import API_PREFIXES, CLAIMS_KEY, Gate, failure, success
from adapters.smallcase.emulator.market import (
    ACCOUNTS,
    DEMO_AUTH_ID,
    IN_PROGRESS,
    TRANSACTION_TTL_NS,
    Gateway,
    GatewayError,
    LeprechaunHours,
    Transaction,
    iso,
)
from adapters.smallcase.parsing import parse_venue_order_id

log = structlog.get_logger("tickbus.emulator.smallcase")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def fault_response(status: int) -> web.Response:
    if status == 404:  # not the gateway's answer: a proxy's, or a wrong path's
        return web.Response(status=404, text="404: Not Found")
    return failure(status, "rate_limited" if status == 429 else "internal_error")


@dataclass
class SentPostback:
    url: str
    body: bytes
    headers: dict[str, str]
    status: int | None


class SmallcaseEmulator(EmulatorServer):
    venue = "smallcase"

    def __init__(
        self,
        *,
        seed: int = 1,
        gateway_name: str = "tickbus-demo",
        secret: str | None = None,
        api_secret: str | None = None,
        leprechaun: bool = False,
        guest_token: str = "leprechaun",
        start_ns: int | None = None,
        complete_delay_s: float = 0.3,
        postback_url: str | None = None,
        postback_scheme: Literal["field", "header"] = "field",
        postback_header: str = CHECKSUM_HEADER,
        tick_interval_s: float = 0.5,
        leprechaun_hours: LeprechaunHours = "nse",
        log_requests: bool = False,
    ) -> None:
        super().__init__(log_requests=log_requests)
        rng = random.Random(f"smallcase-keys-{seed}")  # a stream of its own: ids never repeat a key
        self.leprechaun = leprechaun
        self.clock = EmulatorClock(start_ns)
        self.gate = Gate(
            gateway_name, secret or f"{rng.getrandbits(128):032x}", api_secret or f"{rng.getrandbits(128):032x}",
            now_ns=self.clock.now_ns, users=ACCOUNTS,
        )
        self.gateway = Gateway(
            seed=seed, clock=self.clock, guest_token=guest_token, tick_interval_s=tick_interval_s, leprechaun_hours=leprechaun_hours,
        )
        self.complete_delay_s = complete_delay_s
        self.pause_at: str | None = None  # a knob: where the user's step stops (USED, ACTION_REQUIRED, PROCESSING)
        self.broken: dict[str, int] = {}  # a knob: transactionId -> the status its reads fail with
        self.postback_url = postback_url
        self.postback_scheme = postback_scheme
        self.postback_header = postback_header
        self.postbacks: list[SentPostback] = []
        self.faults = Faults(seed=seed)
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._timers: list[asyncio.TimerHandle] = []

    @property
    def gateway_name(self) -> str:
        return self.gate.gateway_name

    @property
    def secret(self) -> str:
        return self.gate.secret

    @property
    def api_secret(self) -> str:
        return self.gate.api_secret

    # --- EmulatorServer -----------------------------------------------------------------------

    def sim_order_id(self, venue_order_id: str) -> str:
        """The exchange's id of the batch order behind `<transactionId>:<ticker>:<side>`."""
        transaction_id, ticker, side = parse_venue_order_id(venue_order_id)
        tx = self.gateway.transactions.get(transaction_id)
        for batch in tx.batches if tx is not None else ():
            for order in batch.orders:
                if order.tradingsymbol.removesuffix(self.gateway.tradingsymbol_suffix) == ticker \
                        and order.transactionType == side and order.exchangeOrderId:
                    return order.exchangeOrderId
        return venue_order_id

    def credentials(self) -> dict[str, str]:
        return {
            "gateway_name": self.gateway_name,
            "secret": self.secret,
            "api_secret": self.api_secret,
            "link_template": self.url + "/sdk/{gateway}/{transaction_id}",
            "auth_id": DEMO_AUTH_ID,
            "leprechaun_token": self.gateway.guest_token,
        }

    def sim_exchange(self) -> SimExchange:
        return self.gateway.exchange

    def expire_sessions(self) -> bool:
        """Time passes until every auth token seen so far has lapsed (tokens end only by `exp`)."""
        lapse_ns = int((self.gate.latest_exp_s + 1) * 1e9)
        if lapse_ns > self.clock.now_ns():
            self.clock.set(lapse_ns)
        return True

    def build_app(self) -> web.Application:
        def exempt(request: web.Request) -> bool:
            return not request.path.startswith(API_PREFIXES)

        def is_write(request: web.Request) -> bool:
            return request.method == "POST" and request.path.startswith(API_PREFIXES)

        app = web.Application(
            middlewares=[self.log_middleware, fault_middleware(self.faults, fault_response, exempt=exempt, is_write=is_write), self.gate.middleware]
        )
        routes: list[tuple[str, str, Handler]] = [
            ("POST", "/gateway/{gateway}/transaction", self.create_transaction),
            ("GET", "/v1/{gateway}/engine/transactiondetails", self.get_transaction),
            ("GET", "/gateway/{gateway}/transaction/{transactionId}", self.get_transaction),
            ("GET", "/v1/{gateway}/engine/orderdetails", self.get_order_details),
            ("GET", "/v1/{gateway}/engine/user/holdings", self.get_holdings),
            ("GET", "/gateway/{gateway}/user/holdings", self.get_holdings),
            ("GET", "/sdk/{gateway}/{transactionId}", self.sdk_view),
            ("POST", "/sdk/{gateway}/{transactionId}", self.sdk_act),
            ("POST", "/emulator/postback", self.register_postback),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        return app

    async def on_start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        self.gateway.exchange.start()

    async def on_stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.gateway.exchange.stop()
        if self._session is not None:
            await self._session.close()

    # --- the API ------------------------------------------------------------------------------

    async def create_transaction(self, request: web.Request) -> web.Response:
        try:
            body = w.decode_create_request(await request.read())
        except msgspec.MsgspecError:
            return failure(400, "invalid_request")
        auth_id = request[CLAIMS_KEY].get("smallcaseAuthId")
        try:
            tx = self.gateway.create(body, auth_id)
        except GatewayError as exc:
            return failure(exc.status, exc.name)
        return success({"transactionId": tx.id, "expireAt": iso(tx.created_ns + TRANSACTION_TTL_NS)})

    async def get_transaction(self, request: web.Request) -> web.Response:
        tx = self._transaction(request.match_info.get("transactionId") or request.query.get("transactionId", ""))
        return tx if isinstance(tx, web.Response) else success(self.gateway.details(tx))

    async def get_order_details(self, request: web.Request) -> web.Response:
        wanted = request.query.get("transactionId") or request.query.get("transactionIds", "").split(",")[0]
        tx = self._transaction(wanted)
        return tx if isinstance(tx, web.Response) else success(self.gateway.order_details(tx))

    async def get_holdings(self, request: web.Request) -> web.Response:
        auth_id = request[CLAIMS_KEY].get("smallcaseAuthId")
        if auth_id is None:
            return failure(403, "user_not_connected")
        return success(self.gateway.holdings(auth_id))

    def _transaction(self, transaction_id: str) -> Transaction | web.Response:
        try:
            tx = self.gateway.get(transaction_id)
        except GatewayError as exc:
            return failure(exc.status, exc.name)
        broken = self.broken.get(tx.id)
        return tx if broken is None else failure(broken, "internal_error")

    # --- the user's SDK step ------------------------------------------------------------------

    async def sdk_view(self, request: web.Request) -> web.Response:
        tx = self._sdk_transaction(request)
        if isinstance(tx, web.Response):
            return tx
        if not tx.opened and tx.status == "INITIALIZED" and self.gateway.is_leprechaun(tx, self.leprechaun):
            tx.opened = True  # the virtual user takes it from here
            timer = asyncio.get_running_loop().call_later(self.complete_delay_s, self._leprechaun_step, tx)
            self._timers.append(timer)
        return success({"transactionId": tx.id, "intent": tx.intent, "status": tx.status, "securities": tx.securities})

    async def sdk_act(self, request: web.Request) -> web.Response:
        tx = self._sdk_transaction(request)
        if isinstance(tx, web.Response):
            return tx
        raw = await request.read()
        try:
            act = w.decode_sdk_action(raw) if raw else w.SdkAction()
        except msgspec.MsgspecError:
            return failure(400, "invalid_request")
        if tx.status in IN_PROGRESS:  # the user comes back to a step paused half-way
            return self._sdk_result(self.resume(tx, act.action))
        return self._sdk_result(self.user_step(tx, act.token, act.action))

    def _sdk_transaction(self, request: web.Request) -> Transaction | web.Response:
        if request.match_info["gateway"] != self.gateway_name:
            return failure(404, "invalid_gateway")
        try:
            return self.gateway.get(request.match_info["transactionId"])
        except GatewayError as exc:
            return failure(exc.status, exc.name)

    def _sdk_result(self, outcome: Transaction | GatewayError) -> web.Response:
        """The SDK's answer: the order result, or `{errorCode, errorMessage, data}`."""
        if isinstance(outcome, GatewayError):
            name, status = outcome.name, outcome.status
        elif outcome.status == "ERRORED" and outcome.error is not None:
            name, status = outcome.error, 400
        else:
            return success(self.gateway.postback(outcome))
        return web.json_response({"errorCode": w.SDK_ERROR_CODES.get(name), "errorMessage": name, "data": None}, status=status)

    def user_step(self, tx: Transaction, token: str | None = None, action: str = "confirm") -> Transaction | GatewayError:
        """Run the user's step on `tx` (stopping at `pause_at` if set); a finished one is posted back."""
        try:
            self.gateway.user_step(tx, token, action, pause_at=self.pause_at)
        except GatewayError as exc:
            return exc
        if tx.status not in IN_PROGRESS:
            self._post_back(tx)
        return tx

    def resume(self, tx: Transaction, action: str | None = None) -> Transaction | GatewayError:
        """Finish a step paused at `pause_at` (`action` as the user's last word); posted back."""
        try:
            self.gateway.finish(tx, action)
        except GatewayError as exc:
            return exc
        self._post_back(tx)
        return tx

    def _leprechaun_step(self, tx: Transaction) -> None:
        outcome = self.user_step(tx)
        if isinstance(outcome, GatewayError):
            log.info("leprechaun step refused", transaction_id=tx.id, error=outcome.name)

    # --- postbacks ----------------------------------------------------------------------------

    async def register_postback(self, request: web.Request) -> web.Response:
        try:
            self.postback_url = w.decode_registration(await request.read()).url
        except msgspec.MsgspecError:
            return failure(400, "invalid_request")
        return success({"url": self.postback_url})

    def signed(self, payload: bytes) -> tuple[bytes, dict[str, str]]:
        """A postback body and headers in the configured scheme."""
        if self.postback_scheme == "header":
            return payload, {"Content-Type": "application/json", self.postback_header: checksum(self.api_secret, payload)}
        text = payload.decode()
        body = w.encode(w.SignedPostback(data=text, checksum=checksum(self.api_secret, payload)))
        return body, {"Content-Type": "application/json"}

    def _post_back(self, tx: Transaction) -> None:
        if self.postback_url is None or self._session is None:
            return
        body, headers = self.signed(w.encode(self.gateway.postback(tx)))
        task = asyncio.get_running_loop().create_task(self._deliver(self.postback_url, body, headers))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, body: bytes, headers: dict[str, str], attempts: int = 3) -> None:
        """POST one postback; a failed delivery (no answer, 5xx) is sent again, the same bytes."""
        assert self._session is not None
        status: int | None = None
        for attempt in range(attempts):
            try:
                async with self._session.post(url, data=body, headers=headers) as resp:
                    status = resp.status
            except (TimeoutError, aiohttp.ClientError, OSError):
                status = None
            if status is not None and status < 500:
                break
            await asyncio.sleep(0.2 * (attempt + 1))
        self.postbacks.append(SentPostback(url, body, headers, status))
