"""The venue-sync core: delivery with marks, catch-up with backoff, the last look, unknown statuses."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import msgspec
import pytest

from engine.events import Balance, Fill, OrderReport, OrderStatus, Side
from engine.venue.sync import HOLD_COMPLETION_LOOKS, Look, VenueSync
from tests.helpers import bounded, until

S = OrderStatus


class Refused(Exception):
    pass


class RecordingSink:
    """The order manager's side of the contract: records what it took, refuses on demand."""

    def __init__(self) -> None:
        self.taken: list[Fill | OrderReport] = []
        self.refuse = 0  # the next n events raise

    def _take(self, event: Fill | OrderReport) -> None:
        if self.refuse:
            self.refuse -= 1
            raise Refused("journal full")
        self.taken.append(event)

    def on_fill(self, fill: Fill) -> None:
        self._take(fill)

    def on_order_report(self, report: OrderReport) -> None:
        self._take(report)

    def on_balance(self, balance: Balance) -> None:
        pass


class ScriptedVenue:
    """Answers looks from a script (a Look, or an exception to raise); records every question."""

    def __init__(self, *answers: Look | Exception) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[int, frozenset[str], bool]] = []

    async def look(self, since: int, working: frozenset[str], *, fills: bool = True) -> Look:
        self.asked.append((since, working, fills))
        answer = self.answers.pop(0) if self.answers else Look()
        if isinstance(answer, Exception):
            raise answer
        return answer


def fill(n: int, vid: str = "v1", qty: str = "1") -> Fill:
    return Fill(venue="x", instrument="x:A", side=Side.BUY, qty=Decimal(qty), price=Decimal(100), fill_id=str(n), venue_order_id=vid)


def report(vid: str, status: OrderStatus, filled: str | None = None) -> OrderReport:
    return OrderReport(venue="x", status=status, venue_order_id=vid, filled_qty=None if filled is None else Decimal(filled))


def make(venue: ScriptedVenue | None = None, **kw: object) -> tuple[VenueSync, RecordingSink, list[float]]:
    sink, delays = RecordingSink(), []

    async def sleep(delay: float) -> None:
        delays.append(delay)
        await asyncio.sleep(0)

    sync = VenueSync("x", sink, venue or ScriptedVenue(), position=lambda f: int(f.fill_id), sleep=sleep, **kw)  # type: ignore[arg-type]
    return sync, sink, delays


def test_a_look_delivers_fills_before_reports_and_moves_the_cursor() -> None:
    sync, sink, _ = make()
    sync.track(report("v1", S.PLACED))
    sync.deliver(Look(fills=[fill(7), fill(8)], reports=[report("v1", S.COMPLETED, "2")]))
    assert [type(e).__name__ for e in sink.taken] == ["Fill", "Fill", "OrderReport"]
    assert sync.cursor == 8
    assert sync.working == set()


def test_a_fill_delivered_twice_reaches_the_engine_once() -> None:
    sync, sink, _ = make()
    sync.deliver(Look(fills=[fill(1)]))
    sync.stream_fill(fill(1))
    sync.deliver(Look(fills=[fill(1), fill(2)]))
    assert [e.fill_id for e in sink.taken if isinstance(e, Fill)] == ["1", "2"]
    assert sync.stats.duplicate_fills == 2


def test_an_unchanged_report_is_not_delivered_again_and_a_changed_one_is() -> None:
    sync, sink, _ = make()
    sync.deliver(Look(reports=[report("v1", S.PLACED, "0")]))
    sync.deliver(Look(reports=[report("v1", S.PLACED, "0")]))
    sync.deliver(Look(reports=[report("v1", S.UPDATED, "1")]))
    assert [(r.status, r.filled_qty) for r in sink.taken if isinstance(r, OrderReport)] == [
        (S.PLACED, Decimal(0)), (S.UPDATED, Decimal(1))
    ]
    assert sync.working == {"v1"}


def test_an_adapter_given_state_reports_a_stop_that_triggered_with_status_and_fill_unchanged() -> None:
    sync, sink, _ = make(state_of=lambda r: (r.status, r.filled_qty, r.stop_pending))
    waiting = msgspec.structs.replace(report("v1", S.PLACED, "0"), stop_pending=True)
    triggered = msgspec.structs.replace(waiting, stop_pending=False)
    sync.deliver(Look(reports=[waiting]))
    sync.deliver(Look(reports=[waiting]))
    sync.deliver(Look(reports=[triggered]))
    assert [r.stop_pending for r in sink.taken if isinstance(r, OrderReport)] == [True, False]


def test_by_default_only_status_and_filled_quantity_make_a_report_new() -> None:
    sync, sink, _ = make()
    waiting = msgspec.structs.replace(report("v1", S.PLACED, "0"), stop_pending=True)
    sync.deliver(Look(reports=[waiting]))
    sync.deliver(Look(reports=[msgspec.structs.replace(waiting, stop_pending=False)]))
    assert len(sink.taken) == 1


def test_a_fill_the_engine_refuses_leaves_every_mark_where_it_was() -> None:
    sync, sink, _ = make()
    sync.deliver(Look(fills=[fill(1)]))
    sink.refuse = 1
    with pytest.raises(Refused):
        sync.deliver(Look(fills=[fill(2), fill(3)]))
    assert sync.cursor == 1
    sync.deliver(Look(fills=[fill(2), fill(3)]))  # the next look brings both again
    assert [e.fill_id for e in sink.taken if isinstance(e, Fill)] == ["1", "2", "3"]
    assert sync.cursor == 3


async def test_a_streamed_fill_the_engine_refuses_is_caught_up_from_just_before_it() -> None:
    venue = ScriptedVenue(Look(fills=[fill(5)]))
    sync, sink, _ = make(venue)
    sync.stream_fill(fill(9))
    sink.refuse = 1
    sync.stream_fill(fill(5))  # out of order, and refused
    await bounded(until(lambda: not sync.behind))
    assert venue.asked[0][0] == 4  # min(cursor 9, 5 - 1)
    assert [e.fill_id for e in sink.taken if isinstance(e, Fill)] == ["9", "5"]
    assert sync.stats.catch_ups == 1 and sync.cursor == 9


async def test_a_streamed_report_the_engine_refuses_keeps_the_order_asked_about() -> None:
    venue = ScriptedVenue(Look(reports=[report("v1", S.CANCELLED, "0")]))
    sync, sink, _ = make(venue)
    sink.refuse = 1
    sync.stream_report(report("v1", S.CANCELLED, "0"))
    await bounded(until(lambda: not sync.behind))
    assert "v1" in venue.asked[0][1]
    assert [r.status for r in sink.taken if isinstance(r, OrderReport)] == [S.CANCELLED]
    assert sync.working == set()


async def test_a_failing_catch_up_is_retried_with_growing_backoff_until_it_works() -> None:
    venue = ScriptedVenue(OSError("down"), OSError("down"), OSError("down"), Look(fills=[fill(3)]))
    sync, sink, delays = make(venue, backoff_s=(0.5, 30.0))
    sync.catch_up()
    await bounded(until(lambda: not sync.behind))
    assert len(venue.asked) == 4 and sync.stats.catch_up_failures == 3 and sync.stats.catch_ups == 1
    assert len(delays) == 3 and delays[0] <= 0.5 and delays[2] <= 2.0
    assert [e.fill_id for e in sink.taken if isinstance(e, Fill)] == ["3"]


async def test_the_socket_reopening_catches_up_from_the_cursor_it_had_then() -> None:
    gate = asyncio.Event()

    class SlowVenue(ScriptedVenue):
        async def look(self, since: int, working: frozenset[str], *, fills: bool = True) -> Look:
            await gate.wait()
            return await super().look(since, working, fills=fills)

    venue = SlowVenue(Look(fills=[fill(4), fill(5)]))
    sync, sink, _ = make(venue)
    sync.stream_fill(fill(3))
    sync.stream_opened()
    sync.stream_fill(fill(6))  # the new connection's first event moves the cursor on
    gate.set()
    await bounded(until(lambda: not sync.behind))
    assert venue.asked[0][0] == 3
    assert sorted(e.fill_id for e in sink.taken if isinstance(e, Fill)) == ["3", "4", "5", "6"]


async def test_a_second_catch_up_keeps_the_older_cursor() -> None:
    gate = asyncio.Event()

    class SlowVenue(ScriptedVenue):
        async def look(self, since: int, working: frozenset[str], *, fills: bool = True) -> Look:
            self.asked.append((since, working, fills))
            await gate.wait()
            return Look()

    venue = SlowVenue()
    sync, _, _ = make(venue)
    sync.catch_up(2)
    await asyncio.sleep(0)
    sync.catch_up(7)
    await asyncio.sleep(0)
    gate.set()
    await bounded(until(lambda: not sync.behind))
    assert [since for since, _, _ in venue.asked] == [2, 2]


def test_fills_ahead_of_the_orders_report_wait_for_the_report() -> None:
    sync, sink, _ = make(hold_fills_ahead_of_reports=True)
    sync.deliver(Look(fills=[fill(1, qty="2"), fill(2, qty="3")], reports=[report("v1", S.UPDATED, "2")]))
    assert [e.fill_id for e in sink.taken if isinstance(e, Fill)] == ["1"]
    assert sync.stats.held_fills == 1
    sync.deliver(Look(fills=[fill(1, qty="2"), fill(2, qty="3")], reports=[report("v1", S.COMPLETED, "5")]))
    assert [e.fill_id for e in sink.taken if isinstance(e, Fill)] == ["1", "2"]


def test_working_ids_the_venue_no_longer_knows_are_forgotten() -> None:
    sync, _, _ = make()
    sync.track(report("v1", S.PLACED))
    sync.track(report("v2", S.PLACED))
    sync.deliver(Look(gone=["v1"]))
    assert sync.working == {"v2"}


def test_an_unknown_status_is_counted_and_the_order_asked_about_again() -> None:
    sync, sink, _ = make()
    sync.unknown_status("HALTED", "v9")
    sync.unknown_status("HALTED", "v9")
    assert sync.stats.unknown_statuses == {"HALTED": 2}
    assert "v9" in sync.working and sink.taken == []


async def test_the_last_look_reads_from_the_catch_up_cursor_when_behind() -> None:
    venue = ScriptedVenue(OSError("down"), Look(fills=[fill(2)]))
    sink, never = RecordingSink(), asyncio.Event()

    async def sleep_forever(delay: float) -> None:
        await never.wait()  # the catch-up's retry never comes: it is still behind at close

    sync = VenueSync("x", sink, venue, position=lambda f: int(f.fill_id), sleep=sleep_forever)
    sync.stream_fill(fill(1))
    sync.catch_up(0)
    await bounded(until(lambda: sync.stats.catch_up_failures == 1))
    await sync.last_look(timeout_s=5, stream_current=True)
    since, _, fills = venue.asked[-1]
    assert since == 0 and fills  # behind: fills are read although the socket is up
    assert not any(t.get_name() == "x:catch-up" for t in asyncio.all_tasks())


async def test_the_last_look_skips_fills_a_current_socket_pushes_and_never_raises() -> None:
    venue = ScriptedVenue(OSError("venue down"))
    sync, _, _ = make(venue)
    await sync.last_look(timeout_s=5, stream_current=True)
    assert venue.asked == [(0, frozenset(), False)]


def test_a_completion_told_before_its_fills_waits_for_them() -> None:
    sync, sink, _ = make()
    sync.deliver(Look(reports=[report("v1", S.COMPLETED, "2")]))
    assert sink.taken == [] and sync.stats.held_completions == 1 and "v1" in sync.working
    sync.deliver(Look(fills=[fill(1, qty="2")], reports=[report("v1", S.COMPLETED, "2")]))
    assert [type(e).__name__ for e in sink.taken] == ["Fill", "OrderReport"]  # the fills, then the completion


def test_a_completion_whose_fills_never_come_is_delivered_after_a_few_looks() -> None:
    sync, sink, _ = make()
    for _ in range(HOLD_COMPLETION_LOOKS):
        sync.deliver(Look(reports=[report("v1", S.COMPLETED, "2")]))
    assert sink.taken == []
    sync.deliver(Look(reports=[report("v1", S.COMPLETED, "2")]))
    assert sink.taken == [report("v1", S.COMPLETED, "2")] and sync.stats.completions_without_fills == 1


def test_a_look_that_read_no_fills_does_not_hold_a_completion() -> None:
    sync, sink, _ = make()
    sync.deliver(Look(reports=[report("v1", S.COMPLETED, "2")], fills_read=False))
    assert sink.taken == [report("v1", S.COMPLETED, "2")]


def test_a_direct_answer_of_complete_before_the_fills_is_told_as_placed() -> None:
    sync, _, _ = make()
    assert sync.before_fills(report("v1", S.COMPLETED, "2")).status is S.PLACED
    sync.deliver(Look(fills=[fill(1, qty="2")]))
    assert sync.before_fills(report("v1", S.COMPLETED, "2")).status is S.COMPLETED


async def test_a_pushed_completion_waits_for_its_pushed_fills() -> None:
    sync, sink, _ = make()
    sync.stream_report(report("v1", S.COMPLETED, "2"))
    assert sink.taken == [] and sync.stats.held_completions == 1
    sync.stream_fill(fill(1, qty="1"))
    assert [type(e).__name__ for e in sink.taken] == ["Fill"]  # 1 of 2: still waiting
    sync.stream_fill(fill(2, qty="1"))
    assert [type(e).__name__ for e in sink.taken] == ["Fill", "Fill", "OrderReport"]
    assert sync.stats.completions_without_fills == 0


async def test_a_pushed_completion_whose_fills_never_come_is_delivered_and_the_fills_asked_for() -> None:
    venue = ScriptedVenue(Look(fills=[fill(7, qty="2")]))
    sync, sink, _ = make(venue, hold_completion_s=0.01)
    sync.stream_report(report("v1", S.COMPLETED, "2"))
    await bounded(until(lambda: len(sink.taken) == 2))
    assert [type(e).__name__ for e in sink.taken] == ["OrderReport", "Fill"] and sync.stats.completions_without_fills == 1
    assert venue.asked  # a catch-up asked the venue for the fills
