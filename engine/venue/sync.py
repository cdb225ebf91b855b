"""The venue-sync core: keeping the engine's view of our orders in step with the venue's.

Every venue needs the same machinery, so it lives here once and a venue adapter only answers
questions about the venue. The core owns:

- the working set: venue ids of our orders the venue still has open (`track` keeps it from every
  report the adapter hands the engine, `deliver` and the stream paths from what they deliver);
- the fill cursor (a venue-defined position, e.g. GOPAX's trade id; 0 = from the start) and the
  fill ids already delivered, so a fill is handed to the engine once;
- the last state delivered per order (status and filled quantity, or what the adapter's
  `state_of` adds, e.g. a stop still pending), so a look that lists an unchanged order delivers
  nothing;
- delivery, fills first (they are facts) and then reports, and an order's completion only after its
  fills: a look that says "complete, 5 filled" before the engine has those 5 is held for the next
  look (a few times at most, then delivered with a warning), so a strategy never sees a completed
  order without its fills; where **a mark moves only after the
  engine has taken the event**: if the sink raises, the marks stay and the next look delivers it
  again;
- the catch-up after the socket (re)opens or after an event the engine did not take: a look from
  the oldest cursor still needed, retried with backoff until it works;
- the last look at close, so what happened just before the stop is not left for the next run;
- the rule for a status word the venue's table does not know: counted, logged once per word, and
  the order kept in the working set so the next look asks about it again; never guessed.

What an adapter answers (`Questions.look`): given a cursor and the working set, what the venue
says now — own fills after the cursor, reports of orders whose state may have moved (what is
open, and the working orders that stopped), and working ids the venue can no longer tell about.
How it finds that out (one list call, a trade book and an order book, one status call per order)
is the venue's business. A venue with a socket calls `stream_fill` / `stream_report` for each
pushed event and `stream_opened` when the socket (re)opens; a polled venue hands each look it makes
to `deliver`. Polling cadence stays the venue's: only the looks go through the core.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection, Hashable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

import msgspec
import structlog

from engine.events import Fill, OrderReport, OrderStatus
from engine.venue.contract import ExecutionSink
from engine.venue.retry import Backoff

log = structlog.get_logger("tickbus.venue.sync")
HOLD_COMPLETION_LOOKS = 3  # looks a completion waits for its fills before it is delivered anyway
HOLD_COMPLETION_S = 1.0  # how long a pushed completion waits for its pushed fills


@dataclass(frozen=True)
class Look:
    """What the venue says now, as the adapter parsed it."""

    fills: Sequence[Fill] = ()  # own fills after the cursor, oldest first
    reports: Sequence[OrderReport] = ()  # orders whose state may have moved
    gone: Collection[str] = ()  # working venue ids the venue no longer tells about
    fills_read: bool = True  # the look read the venue's fills (else a completion is not held for them)


class Questions(Protocol):
    """What a venue adapter answers for the core."""

    async def look(self, since: int, working: frozenset[str], *, fills: bool = True) -> Look:
        """Own fills after cursor `since` (when `fills`), and reports of the open and working orders."""
        ...


@dataclass
class SyncStats:
    catch_ups: int = 0  # catch-ups that succeeded
    catch_up_failures: int = 0  # looks of a catch-up that failed (each retried with backoff)
    duplicate_fills: int = 0  # fills delivered once already, dropped
    held_fills: int = 0  # fills kept back because the order's report did not show them yet
    held_completions: int = 0  # completions kept back because their fills had not come yet
    completions_without_fills: int = 0  # completions delivered, after holding, with fills still missing
    unknown_statuses: dict[str, int] = field(default_factory=dict)  # status word -> times seen


def status_and_filled(report: OrderReport) -> Hashable:
    """The state of an order a look must move to deliver its report again (the default)."""
    return report.status, report.filled_qty


class VenueSync:
    """One venue's synchronisation state and the catch-up task; see the module docstring."""

    def __init__(
        self,
        venue: str,
        sink: ExecutionSink,
        questions: Questions,
        *,
        position: Callable[[Fill], int] | None = None,
        hold_fills_ahead_of_reports: bool = False,
        state_of: Callable[[OrderReport], Hashable] = status_and_filled,
        backoff_s: tuple[float, float] = (0.5, 30.0),
        hold_completion_s: float = HOLD_COMPLETION_S,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.venue = venue
        self.sink = sink
        self.questions = questions
        self.stats = SyncStats()
        self.working: set[str] = set()
        self.cursor = 0  # the newest fill position the engine has taken
        self._position = position
        self._hold_ahead = hold_fills_ahead_of_reports
        self._state_of = state_of  # what must change for a listed order to be reported again
        self._backoff_s = backoff_s
        self._sleep = sleep
        self._fill_ids: set[str] = set()
        self._delivered_qty: dict[str, Decimal] = {}  # venue order id -> quantity of its fills delivered
        self._reported: dict[str, Hashable] = {}
        self._holding: dict[str, int] = {}  # venue order id -> looks its completion has waited
        self._hold_completion_s = hold_completion_s
        self._waiting: dict[str, OrderReport] = {}  # venue order id -> a pushed completion ahead of its fills
        self._catch_up: asyncio.Task[None] | None = None
        self._catch_up_from: int | None = None  # the cursor of the catch-up in progress

    # --- marks ----------------------------------------------------------------------------------

    def track(self, report: OrderReport) -> OrderReport:
        """Follow the order while the venue works it (call on every report handed to the engine)."""
        self._follow(report)
        return report

    def _follow(self, report: OrderReport) -> None:
        vid = report.venue_order_id
        if vid is not None:
            if report.status.is_open:
                self.working.add(vid)
            else:
                self.working.discard(vid)

    def before_fills(self, report: OrderReport) -> OrderReport:
        """A direct answer (a placement's, say) that the order is complete, before its fills have
        come: told as placed, so the fills complete it."""
        if self._fills_missing(report):
            return msgspec.structs.replace(report, status=OrderStatus.PLACED)
        return report

    def _fills_missing(self, report: OrderReport) -> bool:
        vid = report.venue_order_id
        return (
            report.status is OrderStatus.COMPLETED and vid is not None and report.filled_qty is not None
            and self._delivered_qty.get(vid, Decimal(0)) < report.filled_qty
        )

    def _hold_completion(self, report: OrderReport) -> bool:
        """Whether to keep a completion back for the next look, its fills still to come."""
        vid = report.venue_order_id
        if vid is None or not self._fills_missing(report):
            return False
        waited = self._holding.get(vid, 0)
        if waited < HOLD_COMPLETION_LOOKS:
            self._holding[vid] = waited + 1
            self.working.add(vid)
            self.stats.held_completions += 1
            return True
        self.stats.completions_without_fills += 1
        log.warning("order completed without its fills", venue=self.venue, venue_order_id=vid,
                    filled=str(report.filled_qty), fills_known=str(self._delivered_qty.get(vid, Decimal(0))))
        return False

    def unknown_status(self, word: str, venue_order_id: str | None) -> None:
        """A status word the venue's table does not know: counted, logged once, asked about again."""
        seen = self.stats.unknown_statuses.get(word, 0)
        self.stats.unknown_statuses[word] = seen + 1
        if not seen:
            log.warning("unknown order status: the order is asked about again, not guessed",
                        venue=self.venue, status=word, venue_order_id=venue_order_id)
        if venue_order_id is not None:
            self.working.add(venue_order_id)

    # --- delivery -------------------------------------------------------------------------------

    def deliver(self, look: Look) -> None:
        """Fills first, then reports; raises (marks unmoved) if the engine does not take one."""
        ahead = self._reported_filled(look.reports) if self._hold_ahead else None
        for fill in look.fills:
            self._deliver_fill(fill, ahead)
        for report in look.reports:
            vid = report.venue_order_id
            state = self._state_of(report)
            if vid is not None and self._reported.get(vid) == state:
                continue
            if look.fills_read and self._hold_completion(report):
                continue
            self.sink.on_order_report(report)
            self._mark_reported(report)
            if vid is not None:
                self._holding.pop(vid, None)
                self._waiting.pop(vid, None)  # a look told it: a pushed copy waits no more
        for vid in look.gone:
            self.working.discard(vid)

    def stream_fill(self, fill: Fill) -> None:
        """A fill pushed by the socket; one the engine does not take is caught up over REST."""
        position = self._position(fill) if self._position is not None else None
        if fill.fill_id in self._fill_ids:
            self.stats.duplicate_fills += 1
            return
        try:
            self.sink.on_fill(fill)
        except Exception as exc:  # noqa: BLE001 - not taken: read again from just before it
            since = self.cursor if position is None else min(self.cursor, position - 1)
            self._not_taken("fill", exc, since)
            return
        self._mark_fill(fill, position)

    def stream_report(self, report: OrderReport) -> None:
        """An order update pushed by the socket; one the engine does not take is asked about again.
        A completion pushed before its fills waits for them (`hold_completion_s` at most)."""
        vid = report.venue_order_id
        if vid is not None and self._fills_missing(report):
            if vid not in self._waiting:
                self.stats.held_completions += 1
                asyncio.get_running_loop().call_later(self._hold_completion_s, self._waited, vid)
            self._waiting[vid] = report
            self.working.add(vid)
            return
        self._take_report(report)

    def _waited(self, vid: str, *, ask: bool = True) -> None:
        """A pushed completion whose fills did not come in time: delivered, and (`ask`) the fills
        asked for by a catch-up."""
        report = self._waiting.pop(vid, None)
        if report is None:
            return
        self.stats.completions_without_fills += 1
        log.warning("order completed without its fills", venue=self.venue, venue_order_id=vid,
                    filled=str(report.filled_qty), fills_known=str(self._delivered_qty.get(vid, Decimal(0))))
        self._take_report(report)
        if ask:
            self.catch_up()

    def _take_report(self, report: OrderReport) -> None:
        try:
            self.sink.on_order_report(report)
        except Exception as exc:  # noqa: BLE001 - not taken: the catch-up asks about the order again
            if report.venue_order_id is not None:
                self.working.add(report.venue_order_id)
            self._not_taken("order report", exc, self.cursor)
            return
        self._mark_reported(report)

    def _deliver_fill(self, fill: Fill, ahead: dict[str, Decimal] | None) -> None:
        if fill.fill_id in self._fill_ids:
            self.stats.duplicate_fills += 1
            return
        vid = fill.venue_order_id
        if ahead is not None and vid is not None and vid in ahead:
            if self._delivered_qty.get(vid, Decimal(0)) + fill.qty > ahead[vid]:
                self.stats.held_fills += 1  # the order's report does not show it yet: the next look
                return
        self.sink.on_fill(fill)
        self._mark_fill(fill, self._position(fill) if self._position is not None else None)

    def _mark_fill(self, fill: Fill, position: int | None) -> None:
        self._fill_ids.add(fill.fill_id)
        vid = fill.venue_order_id
        if vid is not None:
            self._delivered_qty[vid] = self._delivered_qty.get(vid, Decimal(0)) + fill.qty
        if position is not None and position > self.cursor:
            self.cursor = position
        if vid is not None and vid in self._waiting and not self._fills_missing(self._waiting[vid]):
            self._take_report(self._waiting.pop(vid))

    def _mark_reported(self, report: OrderReport) -> None:
        if report.venue_order_id is not None:
            self._reported[report.venue_order_id] = self._state_of(report)
        self._follow(report)

    @staticmethod
    def _reported_filled(reports: Sequence[OrderReport]) -> dict[str, Decimal]:
        return {r.venue_order_id: r.filled_qty for r in reports if r.venue_order_id is not None and r.filled_qty is not None}

    # --- catch-up -------------------------------------------------------------------------------

    @property
    def behind(self) -> bool:
        """Whether a catch-up is still to succeed."""
        return self._catch_up_from is not None

    def stream_opened(self) -> None:
        """The socket (re)opened: catch up from where it had got to.

        The cursor is taken now, before any event of the new connection moves it: fills that arrive
        first must not carry it past fills missed while the socket was down.
        """
        self.catch_up(self.cursor)

    def catch_up(self, since: int | None = None) -> None:
        """Start a look from `since` (default: the cursor), retried until it works; a catch-up
        still running is replaced, keeping the older cursor."""
        since = self.cursor if since is None else since
        if self._catch_up_from is not None:
            since = min(since, self._catch_up_from)
        if self._catch_up is not None:
            self._catch_up.cancel()
        self._catch_up_from = since
        self._catch_up = asyncio.get_running_loop().create_task(self._run_catch_up(since), name=f"{self.venue}:catch-up")

    async def _run_catch_up(self, since: int) -> None:
        backoff = Backoff(initial_s=self._backoff_s[0], maximum_s=self._backoff_s[1])
        while True:
            try:
                self.deliver(await self.questions.look(since, frozenset(self.working)))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a venue error, a broken connection, an engine that did not take it
                self.stats.catch_up_failures += 1
                delay = backoff.next()
                log.warning("catch-up failed, retrying", venue=self.venue, error=str(exc) or repr(exc), retry_in_s=round(delay, 3))
                await self._sleep(delay)
                continue
            self.stats.catch_ups += 1
            if self._catch_up is asyncio.current_task():
                self._catch_up, self._catch_up_from = None, None
            return

    def _not_taken(self, what: str, exc: Exception, since: int) -> None:
        log.error("event not taken by the order manager: catching up", venue=self.venue, event_kind=what, error=repr(exc))
        self.catch_up(since)

    # --- close ----------------------------------------------------------------------------------

    async def last_look(self, *, timeout_s: float, stream_current: bool = False) -> None:
        """One more look at close (logged, never raised, if it fails).

        `stream_current`: a socket that is up and caught up pushes fills itself, so they are read
        over REST only when a catch-up was still due or the socket was not up.
        """
        since = self._catch_up_from if self._catch_up_from is not None else self.cursor
        fills = self.behind or not stream_current or bool(self._waiting)
        await self._stop_catch_up()
        try:
            look = await asyncio.wait_for(self.questions.look(since, frozenset(self.working), fills=fills), timeout_s)
            self.deliver(look)
        except Exception as exc:  # noqa: BLE001 - a venue error, a broken connection, the timeout: logged, not raised
            log.warning("last look failed", venue=self.venue, error=str(exc) or repr(exc))
        for vid in list(self._waiting):  # what the last look did not settle: as the venue pushed it
            self._waited(vid, ask=False)

    async def close(self) -> None:
        """Stop the catch-up in progress (its cursor is kept: `behind` stays true)."""
        await self._stop_catch_up()

    async def _stop_catch_up(self) -> None:
        task, self._catch_up = self._catch_up, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
