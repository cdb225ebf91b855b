"""How transaction results reach the engine: the status poller and the postback receiver.

smallcase Gateway has no market data and no stream. A transaction's progress is read by polling its
status (and, once its orders exist, its order batches), and may also arrive as a postback. Both
produce the same `TransactionView`, which the adapter applies in one way.

The poller reads every open transaction on its own: one that fails (a 5xx, a broken record, a bad
answer) is logged and read again next time, and never holds up the others; each view is applied as
it arrives, and one that fails to apply does not stop the rest. Only when every read of a round
fails does the round count as failed (the poller then backs off).

Postback authentication (protocols.md 5.6 names only "a checksum verified with the api secret
(HMAC)"): hex HMAC-SHA256 with the api secret, in one of two schemes, chosen in the config:
- `field` (default): the body is `{"data": "<payload JSON text>", "checksum": hmac(data text)}`;
- `header`: the body is the payload JSON itself and `x-gateway-checksum` (configurable) carries
  hmac(raw body).
Answers: 401 for an unauthenticated postback (a forgery); 400 for a malformed one or one without a
usable `timestamp`; 409 for a stale one (its timestamp older than the last one applied for its
transaction, or more than `max_age_s`, 10 minutes, old); 200 for an exact repeat of one already
applied, which is not applied again (deliveries are at-least-once); 500 if applying it failed,
and then nothing is remembered of it, so the gateway's retry is applied. Malformed input never
gets a 500.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Literal

import msgspec
import structlog
from aiohttp import web

from adapters.smallcase import schemas as w
from adapters.smallcase.auth import checksum_ok
from adapters.smallcase.client import SmallcaseClient
from adapters.smallcase.parsing import WITH_ORDERS, TransactionView
from engine.errors import OrderNotFound, VenueError, VenueUnavailable
from engine.venue.poller import Poller
from engine.venue.retry import Backoff

log = structlog.get_logger("tickbus.smallcase.feed")
Scheme = Literal["field", "header"]
NOT_FOUND = "invalid_transactionId"  # the venue's own name for "no such transaction"


class TransactionPoller:
    """Polls every open transaction: fast while any is open, slowly (and without requests) when idle."""

    def __init__(
        self,
        venue: str,
        client: SmallcaseClient,
        *,
        open_transactions: Callable[[], list[tuple[str, int]]],
        on_view: Callable[[TransactionView], None],
        now_ns: Callable[[], int],
        interval_s: float = 1.0,
        idle_interval_s: float = 5.0,
        concurrency: int = 8,
    ) -> None:
        self.venue = venue
        self.client = client
        self.interval_s = interval_s
        self.idle_interval_s = idle_interval_s
        self.failures = 0  # reads of one transaction that failed
        self.apply_errors = 0  # views that could not be applied
        self._open = open_transactions
        self._on_view = on_view
        self._now_ns = now_ns
        self._limit = asyncio.Semaphore(concurrency)
        self.poller: Poller[None] = Poller(
            f"{venue}:transactions", self.fetch, lambda _: None, interval_s=idle_interval_s,
            # a round whose every read failed waits at most the idle interval more
            backoff=Backoff(initial_s=min(interval_s, idle_interval_s), maximum_s=max(interval_s, idle_interval_s)),
            on_error=lambda exc: log.warning("every transaction poll failed", venue=venue, error=str(exc)),
        )

    def start(self) -> None:
        self.poller.start()

    async def stop(self) -> None:
        await self.poller.stop()

    def wake(self) -> None:
        """A transaction was opened: poll now, and fast from now on."""
        self.poller.set_interval(self.interval_s)
        self.poller.poke()

    async def fetch(self) -> None:
        """One round: every open transaction read and applied on its own."""
        tracked = self._open()
        if not tracked:
            self.poller.set_interval(self.idle_interval_s)
            return
        read = await asyncio.gather(*(self._poll(txid, deadline) for txid, deadline in tracked))
        if not any(read):
            raise VenueUnavailable(self.venue, f"none of {len(tracked)} open transactions could be read")

    async def _poll(self, transaction_id: str, deadline_ns: int) -> bool:
        """Read and apply one transaction; whether it could be read."""
        async with self._limit:
            try:
                view = await self.view(transaction_id, deadline_ns)
            except Exception as exc:  # noqa: BLE001 - one transaction's failure is its own
                self.failures += 1
                log.warning("transaction poll failed", venue=self.venue, transaction_id=transaction_id, error=str(exc))
                return False
        self.apply(view)
        return True

    def apply(self, view: TransactionView) -> None:
        """Hand one view to the adapter; a failure is logged and counted, never raised."""
        try:
            self._on_view(view)
        except Exception as exc:
            self.apply_errors += 1
            log.error("applying a transaction view failed", venue=self.venue, transaction_id=view.transaction_id,
                      error=repr(exc), exc_info=exc)

    async def view(self, transaction_id: str, deadline_ns: int) -> TransactionView:
        """The transaction's status, with its order batches once it has orders."""
        try:
            details = await self.client.transaction(transaction_id)
        except OrderNotFound as exc:
            if exc.code != NOT_FOUND:  # not the venue saying so: a read that failed
                raise
            return TransactionView(transaction_id, error=NOT_FOUND)
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


class _Bounded(OrderedDict[str, Any]):
    """An insertion-ordered map that forgets its oldest entries beyond `limit`."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: str, value: Any) -> None:
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
        max_age_s: float = 600.0,
        now_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.path = path
        self.scheme = scheme
        self.header = header
        self.max_age_ns = int(max_age_s * w.NS)
        self.accepted = 0
        self.duplicates = 0  # exact repeats answered 200 and not applied again
        self.refused: dict[int, int] = {}
        self._api_secret = api_secret
        self._on_postback = on_postback
        self._now_ns = now_ns
        self._digests = _Bounded(remember)  # digest of an applied payload -> its transactionId
        self._latest = _Bounded(remember)  # transactionId -> the newest timestamp applied (ns)
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
        sent_ns = _timestamp_ns(payload.timestamp)
        if sent_ns is None:
            return self._refuse(400, "invalid_timestamp")
        txid = payload.transactionId
        if self._now_ns() - sent_ns > self.max_age_ns:
            return self._refuse(409, "stale")
        last = self._latest.get(txid)
        if last is not None and sent_ns < last:
            return self._refuse(409, "replayed")
        digest = hashlib.sha256(data).hexdigest()
        if digest in self._digests:  # delivered again (our answer was lost): already applied
            self.duplicates += 1
            log.info("postback delivered again; already applied", transaction_id=txid)
            return _ok()
        try:
            self._on_postback(payload)
        except Exception as exc:
            log.error("applying a postback failed", transaction_id=txid, error=repr(exc), exc_info=exc)
            return self._refuse(500, "internal_error")
        self._digests.put(digest, txid)
        self._latest.put(txid, sent_ns if last is None else max(last, sent_ns))
        self.accepted += 1
        return _ok()

    def authenticated(self, body: bytes, header_value: str) -> bytes | None:
        """The payload bytes if the checksum holds under the configured scheme, else None."""
        if self.scheme == "header":
            return body if header_value and checksum_ok(self._api_secret, body, header_value) else None
        try:
            signed = w.decode_signed_postback(body)
            data = signed.data.encode()
        except (msgspec.MsgspecError, UnicodeError):
            return None
        return data if checksum_ok(self._api_secret, data, signed.checksum) else None

    def _refuse(self, status: int, reason: str) -> web.Response:
        self.refused[status] = self.refused.get(status, 0) + 1
        log.warning("postback refused", status=status, reason=reason)
        return web.json_response({"success": False, "errors": [reason], "data": None}, status=status)


def _ok() -> web.Response:
    return web.json_response({"success": True, "errors": None, "data": None})


def _timestamp_ns(text: str | None) -> int | None:
    """A postback's timestamp in epoch ns (naive = UTC), or None if it is missing or not ISO-8601."""
    if not text:
        return None
    try:
        return w.iso_ns(text)
    except (ValueError, OverflowError):
        return None
