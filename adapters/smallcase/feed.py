"""How transaction results reach the engine: the status poller and the postback receiver.

smallcase Gateway has no market data and no stream. A transaction's progress is read by polling its
status (and, once its orders exist, its order batches), and may also arrive as a postback. Both
produce the same `TransactionView`, which the adapter applies in one way.

Postback authentication (protocols.md 5.6 names only "a checksum verified with the api secret
(HMAC)"): hex HMAC-SHA256 with the api secret, in one of two schemes, chosen in the config:
- `field` (default): the body is `{"data": "<payload JSON text>", "checksum": hmac(data text)}`;
- `header`: the body is the payload JSON itself and `x-gateway-checksum` (configurable) carries
  hmac(raw body).
An unauthenticated postback is refused with 401. A replay is refused with 409: a payload seen before
(its digest is remembered), or one whose `timestamp` is older than the last one accepted for its
transaction.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Literal

import msgspec
import structlog
from aiohttp import web

from adapters.smallcase import schemas as w
from adapters.smallcase.auth import checksum_ok
from adapters.smallcase.client import SmallcaseClient
from engine.errors import OrderNotFound, VenueError
from engine.feeds import Poller

log = structlog.get_logger("tickbus.smallcase.feed")
Scheme = Literal["field", "header"]
# The statuses whose order batches are worth reading (only COMPLETED ones are documented to have them).
WITH_ORDERS = frozenset({"COMPLETED", "PROCESSING"})


class TransactionView(msgspec.Struct, frozen=True):
    """What is known of one transaction at one moment, from a poll or a postback."""

    transaction_id: str
    status: str | None = None
    error: str | None = None
    batches: tuple[w.OrderBatch, ...] = ()
    past_deadline: bool = False
    created_at: str | None = None


def view_of_postback(payload: w.Postback) -> TransactionView:
    return TransactionView(
        transaction_id=payload.transactionId,
        status=payload.status,
        error=payload.error.message if payload.error is not None else None,
        batches=tuple(payload.orderBatches),
    )


class TransactionPoller:
    """Polls every open transaction: fast while any is open, slowly (and without requests) when idle."""

    def __init__(
        self,
        venue: str,
        client: SmallcaseClient,
        *,
        open_transactions: Callable[[], list[tuple[str, int]]],
        on_views: Callable[[tuple[TransactionView, ...]], None],
        now_ns: Callable[[], int],
        interval_s: float = 1.0,
        idle_interval_s: float = 5.0,
    ) -> None:
        self.client = client
        self.interval_s = interval_s
        self.idle_interval_s = idle_interval_s
        self._open = open_transactions
        self._now_ns = now_ns
        self.poller: Poller[tuple[TransactionView, ...]] = Poller(
            f"{venue}:transactions", self.fetch, on_views, interval_s=idle_interval_s,
            on_error=lambda exc: log.warning("transaction poll failed", venue=venue, error=str(exc)),
        )

    def start(self) -> None:
        self.poller.start()

    async def stop(self) -> None:
        await self.poller.stop()

    def wake(self) -> None:
        """A transaction was opened: poll now, and fast from now on."""
        self.poller.set_interval(self.interval_s)
        self.poller.poke()

    async def fetch(self) -> tuple[TransactionView, ...]:
        tracked = self._open()
        if not tracked:
            self.poller.set_interval(self.idle_interval_s)
            return ()
        return tuple([await self.view(txid, deadline) for txid, deadline in tracked])

    async def view(self, transaction_id: str, deadline_ns: int) -> TransactionView:
        """The transaction's status, with its order batches once it has orders."""
        try:
            details = await self.client.transaction(transaction_id)
        except OrderNotFound as exc:
            return TransactionView(transaction_id, error=str(exc.code or "invalid_transactionId"))
        except VenueError as exc:
            if exc.code == "transaction_expired":
                return TransactionView(transaction_id, error="transaction_expired", past_deadline=True)
            raise
        batches: tuple[w.OrderBatch, ...] = ()
        if details.status in WITH_ORDERS:
            batches = tuple((await self.client.order_details(transaction_id)).orderBatches)
        return TransactionView(
            transaction_id,
            status=details.status,
            error=details.error.message if details.error is not None else None,
            batches=batches,
            past_deadline=self._now_ns() >= deadline_ns,
            created_at=details.createdAt,
        )


class _Bounded(OrderedDict[str, str]):
    """An insertion-ordered map that forgets its oldest entries beyond `limit`."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: str, value: str) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


class PostbackReceiver:
    """An aiohttp endpoint the engine serves for the gateway's postbacks."""

    def __init__(
        self,
        api_secret: str,
        on_postback: Callable[[w.Postback], None],
        *,
        path: str = "/smallcase/postback",
        scheme: Scheme = "field",
        header: str = "x-gateway-checksum",
        remember: int = 10_000,
    ) -> None:
        self.path = path
        self.scheme = scheme
        self.header = header
        self.accepted = 0
        self.refused: dict[int, int] = {}
        self._api_secret = api_secret
        self._on_postback = on_postback
        self._digests = _Bounded(remember)
        self._latest = _Bounded(remember)  # transactionId -> timestamp of the last accepted
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application()
        app.router.add_post(self.path, self.handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        self._runner = runner
        bound = runner.addresses[0]
        self.url = f"http://{bound[0]}:{bound[1]}{self.path}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        data = self.authenticated(body, request.headers.get(self.header, ""))
        if data is None:
            return self._refuse(401, "unauthenticated")
        try:
            payload = w.decode_postback(data)
        except msgspec.MsgspecError:
            return self._refuse(400, "invalid_payload")
        digest = hashlib.sha256(data).hexdigest()
        if digest in self._digests or self._is_older(payload):
            return self._refuse(409, "replayed")
        self._digests.put(digest, payload.transactionId)
        if payload.timestamp:
            self._latest.put(payload.transactionId, payload.timestamp)
        self.accepted += 1
        self._on_postback(payload)
        return web.json_response({"success": True, "errors": None, "data": None})

    def authenticated(self, body: bytes, header_value: str) -> bytes | None:
        """The payload bytes if the checksum holds under the configured scheme, else None."""
        if self.scheme == "header":
            return body if header_value and checksum_ok(self._api_secret, body, header_value) else None
        try:
            signed = w.decode_signed_postback(body)
        except msgspec.MsgspecError:
            return None
        data = signed.data.encode()
        return data if checksum_ok(self._api_secret, data, signed.checksum) else None

    def _is_older(self, payload: w.Postback) -> bool:
        last = self._latest.get(payload.transactionId)
        if last is None or not payload.timestamp:
            return False
        try:
            return datetime.fromisoformat(payload.timestamp) < datetime.fromisoformat(last)
        except ValueError:
            return False

    def _refuse(self, status: int, reason: str) -> web.Response:
        self.refused[status] = self.refused.get(status, 0) + 1
        log.warning("postback refused", status=status, reason=reason)
        return web.json_response({"success": False, "errors": [reason], "data": None}, status=status)
