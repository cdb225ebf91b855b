"""engine.data.bus: routing, subscribers, ordering, conflation under backpressure, error isolation,
inline (backtest) mode."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine.data.bus as bus_module
from engine.data.bus import Bus, QueuedSubscriber
from engine.events import MARKET_DATA, Fill, Order, OrderType, OrderUpdate, Quote, Side, Trade

TIMEOUT = 10.0  # upper bound for a wait; only there so that a bug fails instead of hanging


def quote(instrument: str, seq: int) -> Quote:
    return Quote(instrument, 100.0 + seq, 101.0 + seq, 1.0, 1.0, seq, seq)


def trade(instrument: str, seq: int) -> Trade:
    return Trade(instrument, 100.0 + seq, 1.0, seq, seq)


def order_update(seq: int, strategy: str = "s1") -> OrderUpdate:
    order = Order(
        client_order_id=f"c{seq}", strategy_id=strategy, instrument="sim:A", venue="paper",
        side=Side.BUY, type=OrderType.MARKET, qty=Decimal(1),
    )
    return OrderUpdate(order, None, seq)


def fill(seq: int, strategy: str = "s1") -> Fill:
    return Fill(
        venue="paper", instrument="sim:A", side=Side.BUY, qty=Decimal(1), price=Decimal(100),
        fill_id=f"f{seq}", strategy_id=strategy, ts_event=seq,
    )


def seq_of(event: Any) -> int:
    return event.ts if isinstance(event, OrderUpdate) else event.ts_event


class Gate:
    """An async handler that blocks on its first event until opened: a consumer held up."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.entered = asyncio.Event()
        self.got: list[Any] = []

    async def __call__(self, event: Any) -> None:
        self.got.append(event)
        if not self.opened.is_set():
            self.entered.set()
            await self.opened.wait()


async def blocked_subscriber(bus: Bus, maxsize: int, types: tuple[type, ...]) -> tuple[QueuedSubscriber, Gate]:
    """A started queued subscriber whose handler is stuck inside its first event."""
    gate = Gate()
    sub = bus.queued("slow", gate, maxsize=maxsize)
    sub.subscribe(types)
    sub.start()
    bus.publish(order_update(-1), "s1")
    await asyncio.wait_for(gate.entered.wait(), TIMEOUT)
    return sub, gate


# --- routing ---------------------------------------------------------------------------------


def test_publish_routes_by_type_and_key_and_wildcard_gets_every_key() -> None:
    bus = Bus()
    only_a: list[Any] = []
    every: list[Any] = []
    trades: list[Any] = []
    bus.subscribe(Quote, only_a.append, keys=["sim:A"])
    bus.subscribe(Quote, every.append)
    bus.subscribe(Trade, trades.append, keys=["sim:A"])
    qa, qb = quote("sim:A", 1), quote("sim:B", 2)
    bus.publish(qa, "sim:A")
    bus.publish(qb, "sim:B")
    bus.publish(quote("sim:A", 3))  # no key: wildcard subscribers only
    assert only_a == [qa]
    assert every[:2] == [qa, qb] and len(every) == 3
    assert trades == []
    assert bus.stats.published == 3


def test_events_are_counted_by_type_across_subscribes_unsubscribes_and_no_subscriber() -> None:
    bus = Bus()
    sub = bus.subscribe(Quote, lambda e: None, keys=["sim:A"])
    bus.publish(quote("sim:A", 1), "sim:A")
    bus.publish(trade("sim:A", 2), "sim:A")  # no one takes trades: still published
    later = bus.subscribe(Quote, lambda e: None)  # rebuilds the Quote routes: their counts are kept
    bus.publish(quote("sim:A", 3), "sim:A")
    bus.publish(quote("sim:B", 4), "sim:B")  # the wildcard's route
    sub.cancel()
    later.cancel()
    bus.publish(quote("sim:A", 5), "sim:A")
    assert bus.published_by_type() == {"Quote": 4, "Trade": 1}
    assert bus.stats.published == 5


def test_subscribing_to_several_types_and_keys_at_once() -> None:
    bus = Bus()
    got: list[Any] = []
    bus.subscribe([Quote, Trade], got.append, keys=["sim:A", "sim:B"])
    events = [quote("sim:A", 1), trade("sim:B", 2), quote("sim:C", 3), trade("sim:A", 4)]
    for e in events:
        bus.publish(e, e.instrument)
    assert got == [events[0], events[1], events[3]]


def test_subscribing_to_some_keys_rebuilds_only_their_routes() -> None:
    bus = Bus()
    bus.subscribe(Quote, lambda e: None, keys=[f"sim:{n}" for n in range(100)])
    untouched = bus._routes[(Quote, "sim:0")]
    bus.subscribe(Quote, lambda e: None, keys=["sim:99", "sim:100"])
    assert bus._routes[(Quote, "sim:0")] is untouched  # a strategy on 1,000 instruments is not 1,000 x every route
    assert len(bus._routes[(Quote, "sim:99")].handlers) == 2
    bus.subscribe(Quote, lambda e: None)  # a wildcard is in every route of its type: those are all rebuilt
    assert bus._routes[(Quote, "sim:0")] is not untouched
    assert len(bus._routes[(Quote, "sim:0")].handlers) == 2


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 4), st.one_of(st.none(), st.sets(st.sampled_from("ABC"), min_size=1))), max_size=12))
def test_routes_after_any_subscribes_and_cancels_deliver_what_each_handler_asked_for(
    ops: list[tuple[bool, int, set[str] | None]],
) -> None:
    bus = Bus()
    got: dict[int, list[str]] = {}
    live: dict[int, tuple[Any, set[str] | None]] = {}
    for n, (cancel, pick, keys) in enumerate(ops):
        if cancel and live:
            live.pop(sorted(live)[pick % len(live)])[0].cancel()
        else:
            got[n] = []
            wanted = None if keys is None else [f"sim:{k}" for k in keys]
            live[n] = (bus.subscribe(Quote, lambda e, n=n: got[n].append(e.instrument), keys=wanted), keys)
        for seen in got.values():
            seen.clear()
        for k in "ABCD":
            bus.publish(quote(f"sim:{k}", n), f"sim:{k}")
        for name, seen in got.items():
            wanted_keys = live[name][1] if name in live else set()
            assert seen == [f"sim:{k}" for k in "ABCD" if wanted_keys is None or k in wanted_keys]
    assert bus.published_by_type().get("Quote", 0) == 4 * len(ops)


def test_unsubscribe_stops_delivery_to_that_handler_only() -> None:
    bus = Bus()
    a: list[Any] = []
    w: list[Any] = []
    sub_a = bus.subscribe(Quote, a.append, keys=["sim:A"])
    sub_w = bus.subscribe(Quote, w.append)
    bus.publish(quote("sim:A", 1), "sim:A")
    sub_w.cancel()
    bus.publish(quote("sim:A", 2), "sim:A")
    assert [q.ts_event for q in a] == [1, 2]
    assert [q.ts_event for q in w] == [1]
    sub_a.cancel()
    sub_a.cancel()  # twice is harmless
    bus.publish(quote("sim:A", 3), "sim:A")
    assert [q.ts_event for q in a] == [1, 2]
    # a fresh wildcard after everything was removed still works
    bus.subscribe(Quote, w.append)
    bus.publish(quote("sim:B", 4), "sim:B")
    assert [q.ts_event for q in w] == [1, 4]


# --- handler failures ------------------------------------------------------------------------


class RecordingLog:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def error(self, event: str, **kw: Any) -> None:
        self.calls.append(("error", event, kw))

    def exception(self, event: str, **kw: Any) -> None:
        self.calls.append(("exception", event, kw))


def test_a_raising_direct_handler_is_isolated_counted_and_logged(monkeypatch: Any) -> None:
    log = RecordingLog()
    monkeypatch.setattr(bus_module, "log", log)
    bus = Bus()
    got: list[Any] = []

    def boom(event: Any) -> None:
        raise RuntimeError("strategy bug")

    bus.subscribe(Quote, boom, name="boomer")
    bus.subscribe(Quote, got.append)
    for i in range(3):
        bus.publish(quote("sim:A", i), "sim:A")  # never raises to the publisher
    assert [q.ts_event for q in got] == [0, 1, 2]
    assert bus.stats.handler_errors == 3
    assert log.calls[0][1] == "handler failed"
    assert log.calls[0][2]["subscriber"] == "boomer"
    assert log.calls[0][2]["event_type"] == "Quote"
    assert "strategy bug" in log.calls[0][2]["error"]
    assert log.calls[0][2]["instrument"] == "sim:A"
    bus.subscribe(OrderUpdate, boom, name="orders")
    bus.publish(order_update(7), "s1")
    assert log.calls[-1][2]["client_order_id"] == "c7"
    assert log.calls[-1][2]["instrument"] == "sim:A"
    assert log.calls[-1][2]["event_type"] == "OrderUpdate"


async def test_a_raising_queued_handler_is_counted_and_reported_to_on_error_and_the_queue_goes_on(monkeypatch: Any) -> None:
    monkeypatch.setattr(bus_module, "log", RecordingLog())
    bus = Bus()
    seen: list[int] = []
    errors: list[tuple[int, str]] = []

    def handler(event: Quote) -> None:
        seen.append(event.ts_event)
        if event.ts_event % 2:
            raise ValueError(f"odd {event.ts_event}")

    sub = bus.queued("q", handler, on_error=lambda e, exc: errors.append((e.ts_event, str(exc))))
    sub.subscribe(Quote)
    sub.start()
    for i in range(6):
        bus.publish(quote("sim:A", i))
    await asyncio.wait_for(bus.drain(), TIMEOUT)
    assert seen == [0, 1, 2, 3, 4, 5]
    assert errors == [(1, "odd 1"), (3, "odd 3"), (5, "odd 5")]
    assert bus.stats.handler_errors == 3
    assert sub.handled == 6
    await asyncio.wait_for(sub.stop(), TIMEOUT)


# --- queued subscribers: order, conflation, never-dropped events -----------------------------


async def test_queued_subscriber_preserves_publish_order_of_mixed_events() -> None:
    bus = Bus()
    got: list[Any] = []
    sub = bus.queued("q", got.append, maxsize=10_000)
    sub.subscribe((Quote, Trade, OrderUpdate, Fill))
    sub.start()
    published = []
    for i in range(500):
        e = [quote("sim:A", i), trade("sim:B", i), order_update(i), fill(i)][i % 4]
        published.append(e)
        bus.publish(e, getattr(e, "instrument", "s1"))
        if i % 97 == 0:
            await asyncio.sleep(0)  # let the consumer take part of it
    await asyncio.wait_for(bus.drain(), TIMEOUT)
    assert got == published
    assert sub.conflated == 0
    await asyncio.wait_for(sub.stop(), TIMEOUT)


async def test_flood_of_quotes_into_a_small_queue_conflates_to_the_latest_per_instrument() -> None:
    bus = Bus()
    sub, gate = await blocked_subscriber(bus, 8, (Quote, OrderUpdate))
    instruments = ["sim:A", "sim:B", "sim:C"]
    last: dict[str, Quote] = {}
    n = 300
    for i in range(n):
        q = quote(instruments[i % 3], i)
        last[q.instrument] = q
        bus.publish(q, q.instrument)
    # 8 fit in the queue, the next one per instrument opens a slot, every later one replaces
    expected_dropped = n - 8 - len(instruments)
    assert sub.conflated == expected_dropped
    assert bus.stats.conflated == expected_dropped
    assert bus.stats.conflated_by_type == {"Quote": expected_dropped}
    gate.opened.set()
    await asyncio.wait_for(bus.drain(), TIMEOUT)
    quotes = [e for e in gate.got if isinstance(e, Quote)]
    assert len(quotes) == n - expected_dropped
    for inst in instruments:
        mine = [q for q in quotes if q.instrument == inst]
        assert mine[-1] == last[inst]  # the consumer ends with the latest quote
        assert [q.ts_event for q in mine] == sorted(q.ts_event for q in mine)
    assert sub.handled == 1 + len(quotes)
    await asyncio.wait_for(sub.stop(), TIMEOUT)


async def test_order_updates_and_fills_are_never_dropped_under_a_flood_of_quotes() -> None:
    bus = Bus()
    sub, gate = await blocked_subscriber(bus, 16, (Quote, OrderUpdate, Fill))
    updates = []
    fills = []
    for i in range(10_000):
        bus.publish(quote(f"sim:{i % 5}", i), f"sim:{i % 5}")
        if i % 100 == 50:
            u = order_update(i)
            updates.append(u)
            bus.publish(u, "s1")
        if i % 1000 == 10:
            f = fill(i)
            fills.append(f)
            bus.publish(f, "s1")
    assert sub.conflated > 9_000  # the quotes were conflated ...
    gate.opened.set()
    await asyncio.wait_for(bus.drain(), TIMEOUT)
    got_updates = [e for e in gate.got if isinstance(e, OrderUpdate) and e.ts >= 0]
    got_fills = [e for e in gate.got if isinstance(e, Fill)]
    assert got_updates == updates  # ... the order updates all arrive, in order
    assert len(updates) == 100
    assert got_fills == fills
    await asyncio.wait_for(sub.stop(), TIMEOUT)


async def test_a_slot_never_delivers_a_quote_ahead_of_an_older_one_queued_behind_it() -> None:
    """A slot that stays queued while the consumer makes room must not take quotes that were
    published after a plain (queued) quote of the same instrument."""
    bus = Bus()
    got: list[int] = []

    async def handler(event: Quote) -> None:
        got.append(event.ts_event)
        await asyncio.sleep(0)

    sub = bus.queued("q", handler, maxsize=2)
    sub.subscribe(Quote)
    sub.start()
    for i in (1, 2, 3):
        bus.publish(quote("sim:A", i))  # 1 and 2 queued, 3 in a slot
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # the consumer took 1: there is room again
    for i in (4, 5, 6, 7):
        bus.publish(quote("sim:A", i))
    await asyncio.wait_for(bus.drain(), TIMEOUT)
    assert got == sorted(got)
    assert got[-1] == 7
    assert sub.conflated == len(range(1, 8)) - len(got)
    await asyncio.wait_for(sub.stop(), TIMEOUT)


async def test_drain_of_a_queued_subscriber_does_not_await_per_event() -> None:
    """1000 queued events and a plain handler: a probe task that yields with sleep(0) gets only
    a couple of turns while all of them are handled (an await per event would give it ~1000)."""
    bus = Bus()
    handled: list[int] = []
    sub = bus.queued("q", lambda e: handled.append(e.ts_event), maxsize=5_000)
    sub.subscribe(Quote)
    sub.start()
    await asyncio.sleep(0)  # the consumer waits for work
    for i in range(1000):
        bus.publish(quote("sim:A", i))
    turns = 0

    async def probe() -> None:
        nonlocal turns
        for _ in range(10_000):
            if len(handled) == 1000:
                return
            turns += 1
            await asyncio.sleep(0)

    await asyncio.wait_for(probe(), TIMEOUT)
    assert handled == list(range(1000))
    assert turns <= 3
    await asyncio.wait_for(sub.stop(), TIMEOUT)


async def test_halt_from_inside_the_handler_drops_what_is_queued_and_ends_the_task() -> None:
    bus = Bus()
    got: list[int] = []
    sub: QueuedSubscriber

    def handler(event: Quote) -> None:
        got.append(event.ts_event)
        if event.ts_event == 2:
            sub.halt()

    sub = bus.queued("q", handler)
    sub.subscribe(Quote)
    sub.start()
    for i in range(10):
        bus.publish(quote("sim:A", i))
    await asyncio.wait_for(bus.drain(), TIMEOUT)
    bus.publish(quote("sim:A", 99))
    sub.deliver(quote("sim:A", 100))
    for _ in range(5):
        await asyncio.sleep(0)
    assert got == [0, 1, 2]
    assert sub.depth == 0
    await asyncio.wait_for(sub.stop(), TIMEOUT)


async def test_stop_with_drain_handles_what_is_already_queued_then_unsubscribes() -> None:
    bus = Bus()
    got: list[int] = []
    sub = bus.queued("q", lambda e: got.append(e.ts_event))
    sub.subscribe(Quote)
    sub.start()
    for i in range(50):
        bus.publish(quote("sim:A", i))
    await asyncio.wait_for(sub.stop(drain=True), TIMEOUT)
    bus.publish(quote("sim:A", 50))
    await asyncio.sleep(0)
    assert got == list(range(50))


# --- inline (backtest) mode ------------------------------------------------------------------


async def test_inline_mode_runs_queued_handlers_inside_publish_and_settle_awaits_async_ones() -> None:
    bus = Bus(inline=True)
    sync_got: list[int] = []
    async_got: list[int] = []

    async def slow(event: Quote) -> None:
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        async_got.append(event.ts_event)

    s1 = bus.queued("sync", lambda e: sync_got.append(e.ts_event))
    s1.subscribe(Quote)
    s2 = bus.queued("async", slow)
    s2.subscribe(Quote)
    s1.start()
    s2.start()
    bus.publish(quote("sim:A", 1))
    assert sync_got == [1]  # ran inside publish, no await
    assert async_got == [] and bus.has_pending
    await asyncio.wait_for(bus.settle(), TIMEOUT)
    assert async_got == [1] and not bus.has_pending


async def test_inline_mode_awaitable_handler_failure_is_counted_under_its_name(monkeypatch: Any) -> None:
    log = RecordingLog()
    monkeypatch.setattr(bus_module, "log", log)
    bus = Bus(inline=True)

    async def bad(event: Quote) -> None:
        await asyncio.sleep(0)
        raise RuntimeError("late failure")

    bus.subscribe(Quote, bad, name="direct.bad", may_await=True)
    bus.publish(quote("sim:A", 1))
    await asyncio.wait_for(bus.settle(), TIMEOUT)
    assert bus.stats.handler_errors == 1
    assert log.calls[-1][2]["subscriber"] == "direct.bad"


async def test_inline_mode_queued_failure_reaches_on_error_sync_and_async() -> None:
    bus = Bus(inline=True)
    errors: list[str] = []

    async def bad_async(event: Quote) -> None:
        raise KeyError("async")

    def bad_sync(event: Quote) -> None:
        raise KeyError("sync")

    for name, fn in (("a", bad_async), ("s", bad_sync)):
        sub = bus.queued(name, fn, on_error=lambda e, exc: errors.append(str(exc)))
        sub.subscribe(Quote)
    bus.publish(quote("sim:A", 1))
    await asyncio.wait_for(bus.settle(), TIMEOUT)
    assert sorted(errors) == ["'async'", "'sync'"]
    assert bus.stats.handler_errors == 2


# --- property: ordering and conflation under random interleavings ----------------------------

INSTRUMENTS = ("sim:A", "sim:B", "sim:C")
op = st.one_of(
    st.tuples(st.just("quote"), st.sampled_from(INSTRUMENTS)),
    st.tuples(st.just("trade"), st.sampled_from(INSTRUMENTS)),
    st.tuples(st.just("update"), st.just("")),
    st.tuples(st.just("fill"), st.just("")),
    st.tuples(st.just("yield"), st.sampled_from(["1", "2", "5"])),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op, max_size=120), maxsize=st.integers(1, 12), async_handler=st.booleans())
def test_random_interleavings_keep_order_updates_whole_and_market_data_in_order(
    ops: list[tuple[str, str]], maxsize: int, async_handler: bool
) -> None:
    async def scenario() -> tuple[list[Any], list[Any], QueuedSubscriber]:
        bus = Bus()
        got: list[Any] = []

        if async_handler:
            async def handler(event: Any) -> None:
                got.append(event)
                await asyncio.sleep(0)
        else:
            handler = got.append  # type: ignore[assignment]

        sub = bus.queued("prop", handler, maxsize=maxsize)
        sub.subscribe((Quote, Trade, OrderUpdate, Fill))
        sub.start()
        published: list[Any] = []
        for seq, (kind, arg) in enumerate(ops):
            if kind == "yield":
                for _ in range(int(arg)):
                    await asyncio.sleep(0)
                continue
            event = {"quote": lambda: quote(arg, seq), "trade": lambda: trade(arg, seq),
                     "update": lambda: order_update(seq), "fill": lambda: fill(seq)}[kind]()
            published.append(event)
            bus.publish(event, getattr(event, "instrument", "s1") if kind in ("quote", "trade") else "s1")
        await asyncio.wait_for(bus.drain(), TIMEOUT)
        await asyncio.wait_for(sub.stop(), TIMEOUT)
        return published, got, sub

    published, got, sub = asyncio.run(scenario())

    def is_md(e: Any) -> bool:
        return isinstance(e, MARKET_DATA)

    # every order update and fill exactly once, in publish order
    assert [seq_of(e) for e in got if not is_md(e)] == [seq_of(e) for e in published if not is_md(e)]
    # nothing delivered that was not published, nothing twice
    seqs = [seq_of(e) for e in got]
    assert len(seqs) == len(set(seqs))
    assert set(seqs) <= {seq_of(e) for e in published}
    for inst in INSTRUMENTS:
        # restricted to one instrument's market data plus the order events, delivery is in
        # publish order (a subsequence of what was published) ...
        def view(events: list[Any]) -> list[int]:
            return [seq_of(e) for e in events if not is_md(e) or e.instrument == inst]

        delivered = view(got)
        assert delivered == sorted(delivered)
        # ... and ends with the last event published for the instrument, of each type
        for cls in (Quote, Trade):
            pub = [e for e in published if type(e) is cls and e.instrument == inst]
            mine = [e for e in got if type(e) is cls and e.instrument == inst]
            if pub:
                assert mine and mine[-1] == pub[-1]
    assert sub.conflated == len(published) - len(got)
    assert sub.handled == len(got)


def test_handler_failure_logging_works_with_the_real_structlog_logger() -> None:
    """The failure is logged through structlog itself (a keyword clashing with the log call's
    own arguments would turn every isolated failure into a crash of the publisher)."""
    bus = Bus()

    def boom(event: Any) -> None:
        raise RuntimeError("x")

    bus.subscribe(Quote, boom)
    bus.publish(quote("sim:A", 1))
    bus.handler_failed("direct", None, RuntimeError("no event"))
    assert bus.stats.handler_errors == 2


async def test_a_callback_that_returns_a_plain_value_is_not_an_error() -> None:
    """`return self.buy(...)` in a callback returns an Order: nothing to await, nothing wrong."""
    for inline in (False, True):
        bus = Bus(inline=inline)
        errors: list[BaseException] = []
        handled: list[Quote] = []

        def handler(event: Quote) -> object:
            handled.append(event)
            return {"an": "order"}

        sub = bus.queued("returns", handler, on_error=lambda event, exc: errors.append(exc))
        sub.subscribe(Quote)
        sub.start()
        for i in range(3):
            bus.publish(quote("sim:A", i), "sim:A")
        await asyncio.wait_for(bus.drain(), TIMEOUT)
        assert len(handled) == 3
        assert errors == [] and bus.stats.handler_errors == 0
        await sub.stop()


async def test_stopping_a_subscriber_whose_handler_never_returns_is_bounded() -> None:
    bus = Bus()
    never = asyncio.Event()

    async def stuck(event: Quote) -> None:
        await never.wait()

    sub = bus.queued("stuck", stuck)
    sub.subscribe(Quote)
    sub.start()
    bus.publish(quote("sim:A", 1), "sim:A")
    bus.publish(quote("sim:A", 2), "sim:A")
    await asyncio.sleep(0.01)
    assert not sub.idle
    await asyncio.wait_for(sub.stop(drain_timeout_s=0.05), TIMEOUT)  # returns, does not hang
    assert sub.stopped


async def test_wait_idle_is_woken_by_the_drain_not_by_polling() -> None:
    bus = Bus()
    seen: list[Quote] = []
    sub = bus.queued("s", seen.append)
    sub.subscribe(Quote)
    sub.start()
    for i in range(5000):
        bus.publish(quote("sim:A", i), "sim:A")
    turns = 0

    async def probe() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    task = asyncio.ensure_future(probe())
    await asyncio.wait_for(sub.wait_idle(), TIMEOUT)
    task.cancel()
    assert len(seen) == 5000
    assert turns <= 6  # a few loop turns for the drain's slices, not a spin per event
    await sub.stop()
