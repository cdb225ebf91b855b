"""Samco's wire boundary under generated and mutated answers (issue 14 point 1).

The always-on sample of bench/venue_fuzz.py's campaign: the order and trade books, order replies,
limits, positions, quotes, the scrip master CSV and the stream's ticks, from the emulator's valid
payloads, with values replaced by hypothesis, pushed through the real decode + parse path. Each
either succeeds, is dropped and counted, or raises only the project's typed venue error. Then one
regression test per defect the campaign found.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.samco import scrip
from adapters.samco.auth import expiry_of, session_expiry_ns
from adapters.samco.feed import SamcoFeed
from adapters.samco.schemas import LoginReply
from bench.venue_fuzz import Target, inputs, outcome, samco_targets
from engine.errors import VenueError
from engine.events import Quote

STATE = Path("/nonexistent/tickbus-fuzz")  # nothing is written: the venue never connects


def _targets(tmp: Path = STATE) -> dict[str, Target]:
    targets, _ = samco_targets(tmp)
    return {t.name: t for t in targets}


NAMES = sorted(_targets())


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
async def test_every_answer_parses_or_raises_the_venue_error(data: st.DataObject) -> None:
    target = _targets()[data.draw(st.sampled_from(NAMES), label="entry point")]  # fresh state each example
    payload = data.draw(inputs(target), label="input")
    raised = outcome(target, payload)
    assert raised is None, f"{target.name}: {raised!r} for {payload!r:.400}"


# --- regressions: each of these raised something other than the venue error before -------------


@pytest.fixture
def samco() -> dict[str, Target]:
    return _targets()


OK = {"status": "Success", "statusMessage": "ok"}


def _trade(**changes: str) -> dict[str, str]:
    row = {"orderNumber": "261201000000001", "exchange": "NSE", "tradingSymbol": "RELIANCE-EQ", "transactionType": "BUY",
           "quantity": "10", "filledQuantity": "4", "tradeQuantity": "4", "tradeNumber": "50001", "tradePrice": "1290.50",
           "tradeDate": "01DEC2026", "tradeTime": "09:20:05"}
    row.update(changes)
    return row


@pytest.mark.parametrize("changes", [
    {"tradeQuantity": "NaN"},  # decimal.InvalidOperation adding the sizes up
    {"tradeQuantity": "", "filledQuantity": "sNaN"},
    {"tradePrice": "1e999999999"},
    {"tradeQuantity": "-4"},  # a fill of minus four shares
])
def test_a_trade_book_with_an_odd_number_raises_the_venue_error(samco: dict[str, Target], changes: dict[str, str]) -> None:
    with pytest.raises(VenueError):
        samco["rest trade book (fills_since, poll)"].run(msgspec.json.encode({**OK, "tradeBookDetails": [_trade(**changes)]}))


def test_an_order_book_with_a_signalling_nan_raises_the_venue_error(samco: dict[str, Target]) -> None:
    row = {"orderNumber": "261201000000001", "exchange": "NSE", "tradingSymbol": "RELIANCE-EQ", "transactionType": "BUY",
           "orderType": "L", "orderPrice": "1290.50", "orderStatus": "OPEN", "quantity": "10", "filledQuantity": "sNaN"}
    with pytest.raises(VenueError):  # the order poller compared it with the trade book's sum: InvalidOperation
        samco["rest order book (open_orders, poll)"].run(msgspec.json.encode({**OK, "orderBookDetails": [row]}))


def test_positions_and_quotes_with_odd_numbers_raise_the_venue_error(samco: dict[str, Target]) -> None:
    with pytest.raises(VenueError):
        samco["rest positions"].run(msgspec.json.encode({**OK, "positionDetails": [
            {"tradingSymbol": "RELIANCE-EQ", "exchange": "NSE", "netQuantity": "sNaN"}]}))
    for quote in ({"lastTradedPrice": "abc"}, {"bestBids": [{"price": "1290.95", "quantity": "12abc"}]}):
        with pytest.raises(VenueError):  # w.num raised ValueError
            samco["rest quote"].run(msgspec.json.encode({**OK, **quote}))


HEADER = ",".join(scrip.COLUMNS)


def test_scrip_master_rows_with_an_odd_lot_or_tick_are_dropped_and_counted() -> None:
    text = "\n".join([
        HEADER,
        "NSE,NSE,2885_NSE,RELIANCE-EQ,RELIANCE INDUSTRIES,1291,EQ,NaN,,,0.05",  # NaN > 0: InvalidOperation
        f'NSE,NSE,1594_NSE,INFY-EQ,"{"x" * 140_000}",1500,EQ,1,,,0.05',  # csv.Error: field larger than field limit
        "NSE,NSE,11536_NSE,TCS-EQ,TCS,4000,EQ,1,,,0.05",
        "NSE,NSE,3045_NSE,SBIN-EQ,SBI,800,EQ,,,,",  # empty lot and tick: the defaults, as before
        "NSE,NSE,1333_NSE,HDFCBANK-EQ,HDFC BANK,1700,EQ,1,,,Infinity",
    ])
    rows, dropped = scrip.parse_counted(text)
    assert [r.trading_symbol for r in rows] == ["TCS-EQ", "SBIN-EQ"] and dropped == 3
    assert (rows[1].lot, rows[1].tick) == (1, scrip.DEFAULT_TICK)


class _Bus:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def publish(self, event: Any, key: Any = None) -> None:
        self.events.append(event)


class _Clock:
    def now_ns(self) -> int:
        return 1_796_000_000 * 1_000_000_000


def _feed() -> tuple[SamcoFeed, _Bus]:
    bus = _Bus()
    feed = SamcoFeed("samco", "ws://127.0.0.1:9", bus=bus, clock=_Clock(), auth=None)  # type: ignore[arg-type]
    feed.ids.update({"2885_NSE": "samco:NSE:RELIANCE", "1594_NSE": "samco:NSE:INFY"})
    return feed, bus


def _tick(sym: str, bid: str = "1290.95") -> bytes:
    return msgspec.json.encode({"sym": sym, "ltp": "1291.00", "bPr": bid, "bSz": "10", "aPr": "1291.05", "aSz": "12"})


async def test_a_bad_tick_among_several_is_dropped_and_counted_and_the_others_still_published() -> None:
    feed, bus = _feed()
    feed.on_message(b"\n".join([_tick("2885_NSE"), _tick("2885_NSE", bid="12abc"), b"{not json", _tick("1594_NSE")]))
    assert [q.instrument for q in bus.events] == ["samco:NSE:RELIANCE", "samco:NSE:INFY"] and feed.malformed == 2


@pytest.mark.parametrize("bid", ["inf", "nan", "1e999", "-Infinity"])
async def test_a_quote_tick_with_a_non_finite_number_is_dropped_and_counted(bid: str) -> None:
    feed, bus = _feed()
    feed.on_message(_tick("2885_NSE", bid=bid))
    assert not [e for e in bus.events if isinstance(e, Quote)] and feed.malformed == 1


@pytest.mark.parametrize("exp", ["Infinity", "NaN", "1e400", "-1e308", "true"])
def test_a_session_token_whose_expiry_claim_is_no_time_falls_back_to_the_daily_expiry(exp: str) -> None:
    claims = base64.urlsafe_b64encode(f'{{"exp":{exp},"sub":"DEMO1"}}'.encode()).decode().rstrip("=")
    reply = LoginReply(sessionToken=f"eyJhbGciOiJIUzI1NiJ9.{claims}.c2ln")
    now = _Clock().now_ns()
    assert expiry_of(reply, now) == session_expiry_ns(now)  # int(inf) raised OverflowError out of the login


def test_a_trade_row_with_no_side_or_price_is_counted_and_logged_not_dropped_unseen(samco: dict[str, Target]) -> None:
    target = samco["rest trade book (fills_since, poll)"]
    rows = [_trade(), _trade(tradeNumber="50003", transactionType="X"), _trade(tradeNumber="50004", tradePrice="")]
    before = target.counters()
    target.run(msgspec.json.encode({**OK, "tradeBookDetails": rows}))  # fills_since and a poll: each row counted once
    assert target.counters() == before + 2
