"""The synthetic venue quotes an exchange's instruments only while that exchange is open."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import msgspec

from adapters.paper.synthetic import SyntheticConfig, SyntheticVenue
from engine.clock import SimulatedClock
from engine.data.bus import Bus
from engine.events import Quote
from engine.venue.contract import VenueContext

IST = timezone(timedelta(hours=5, minutes=30))
NS = 1_000_000_000


def venue(*symbols: str) -> SyntheticVenue:
    config = msgspec.convert({"seed": 3, "interval_ms": 1000, "instruments": [
        {"symbol": s, "price": 100.0, "tick": "0.05"} for s in symbols]}, SyntheticConfig, strict=False)
    return SyntheticVenue(VenueContext(name="sim", bus=Bus(), clock=SimulatedClock(), sink=None), config)  # type: ignore[arg-type]


def ns(at: datetime) -> int:
    return int(at.timestamp()) * NS


def test_nse_quotes_stop_at_the_close_and_start_again_at_the_next_open() -> None:
    sim = venue("NSE:RELIANCE")
    start = ns(datetime(2026, 12, 7, 9, 15, tzinfo=IST))
    end = ns(datetime(2026, 12, 8, 18, 0, tzinfo=IST))
    quotes = [e for e in sim.replay(start, end) if isinstance(e, Quote)]
    times = [datetime.fromtimestamp(q.ts_event / NS, IST) for q in quotes]
    assert {t.date() for t in times} == {datetime(2026, 12, 7).date(), datetime(2026, 12, 8).date()}
    assert all((9, 15) <= (t.hour, t.minute) and (t.hour, t.minute) < (15, 30) for t in times)
    assert len(quotes) == 2 * (6 * 3600 + 15 * 60) - 1  # each second of two sessions (the first open excluded)
    assert times[0] == datetime(2026, 12, 7, 9, 15, 1, tzinfo=IST)
    assert times[-1] == datetime(2026, 12, 8, 15, 29, 59, tzinfo=IST)


def test_a_market_without_sessions_is_quoted_around_the_clock_beside_a_closed_one() -> None:
    sim = venue("NSE:INFY", "BTC-USD")
    start = ns(datetime(2026, 12, 7, 16, 0, tzinfo=IST))  # NSE closed
    events = [e for e in sim.replay(start, start + 60 * NS) if isinstance(e, Quote)]
    assert {e.instrument for e in events} == {"sim:BTC-USD"} and len(events) == 60


def test_market_is_open_follows_the_exchange_hours() -> None:
    sim = venue("NSE:INFY", "BTC-USD")
    nse, btc = sim._instruments
    closed = ns(datetime(2026, 12, 7, 16, 0, tzinfo=IST))
    opened = ns(datetime(2026, 12, 7, 10, 0, tzinfo=IST))
    assert sim.market_is_open(nse, opened) is True and sim.market_is_open(nse, closed) is False
    assert sim.market_is_open(btc, closed) is True


async def test_live_feed_keeps_its_schedule_when_it_falls_behind_and_gives_the_quotes_replay_would() -> None:
    start = ns(datetime(2026, 12, 7, 16, 0, tzinfo=IST))
    live, replayed = venue("BTC-USD", "ETH-USD"), venue("BTC-USD", "ETH-USD")
    clock = live.ctx.clock
    assert isinstance(clock, SimulatedClock)
    clock.reset(start)
    seen: list[Quote] = []
    live.ctx.bus.subscribe(Quote, seen.append)
    await live.subscribe(["sim:BTC-USD", "sim:ETH-USD"], ["quotes"])
    try:
        for _ in range(50):  # the feed task reaches its first sleep
            await asyncio.sleep(0)
        clock.advance_to(start + 40 * NS)  # 40 steps fall due at once: a loop that was busy for them
        for _ in range(50):  # the catch-up bursts yield with loop turns, not clock time
            await asyncio.sleep(0)
    finally:
        await live.close()
    expected = [e for e in replayed.replay(start, start + 40 * NS) if isinstance(e, Quote)]
    assert len(seen) == 80
    assert seen == expected
    assert live.step_ns == start + 40 * NS
