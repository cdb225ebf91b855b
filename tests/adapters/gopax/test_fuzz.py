"""GOPAX's wire boundary under generated and mutated answers (issue 14 point 1).

The always-on sample of bench/venue_fuzz.py's campaign: every REST answer and socket frame the
venue turns into engine events, from the emulator's valid payloads, with values replaced by
hypothesis (odd words, huge and non-finite numbers, wrong types, missing and extra fields) and
pushed through the real decode + parse path. Each either succeeds or raises only the project's
typed venue error (at the socket: the decoder's refusal, which the feed counts and drops). Then
one regression test per defect the campaign found.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.gopax import schemas as w
from adapters.gopax.book import LocalBook
from adapters.gopax.feed import GopaxFeed
from bench.venue_fuzz import Target, gopax_targets, inputs, outcome
from engine.errors import VenueError
from engine.events import Side

STATE = Path("/nonexistent/tickbus-fuzz")  # nothing is written: the venue never connects


def _targets(tmp: Path = STATE) -> dict[str, Target]:
    targets, _ = gopax_targets(tmp)
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
def gopax(tmp_path: Path) -> dict[str, Target]:
    return _targets(tmp_path)


def _order(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": "98723", "side": "buy", "type": "limit", "tradingPairName": "BTC-KRW", "amount": 0.01, "price": 50000000,
        "status": "placed", "remaining": 0.01, "createdAt": "2026-12-01T00:00:00.000Z", "updatedAt": "2026-12-01T00:00:00.000Z",
    }
    row.update(changes)
    return row


@pytest.mark.parametrize("changes", [
    {"side": "SELL"},  # typed as the engine's Side already before this change (the first case)
    {"updatedAt": "2026-13-45T99:99:99Z"},  # iso_ns raised ValueError out of recovery
    {"createdAt": "garbage", "updatedAt": None},
    {"amount": "sNaN"},  # decimal.InvalidOperation in the filled quantity
    {"remaining": "NaN"},
    {"amount": "1e999999999", "remaining": 1},  # decimal.Overflow
    {"type": "MARKET", "side": "buy", "amount": 100000, "remaining": 0},  # read as a limit: 100,000 BTC "filled"
])
def test_open_orders_with_an_odd_value_raise_the_venue_error(gopax: dict[str, Target], changes: dict[str, Any]) -> None:
    with pytest.raises(VenueError):
        gopax["rest orders (open_orders)"].run(msgspec.json.encode([_order(**changes)]))


def test_own_trades_with_a_malformed_timestamp_raise_the_venue_error(gopax: dict[str, Target]) -> None:
    trade = {"id": 1, "orderId": 98723, "baseAmount": 0.01, "quoteAmount": 500000, "fee": 100, "price": 50000000,
             "timestamp": "yesterday", "side": "buy", "tradingPairName": "BTC-KRW"}
    for name in ("rest own trades (fills_since)", "rest look (trades since connect)"):
        with pytest.raises(VenueError):
            gopax[name].run(msgspec.json.encode([trade]))


def test_a_public_trade_with_a_side_word_gopax_does_not_send_is_refused_not_read_as_a_sell(gopax: dict[str, Target]) -> None:
    trade = {"time": "2026-12-01T00:00:00.000Z", "id": 5001, "price": 50000000, "amount": 0.01, "side": "BUY"}
    with pytest.raises(VenueError):
        gopax["rest public trades"].run(msgspec.json.encode([trade]))


def test_balances_with_a_non_finite_amount_raise_the_venue_error(gopax: dict[str, Target]) -> None:
    with pytest.raises(VenueError):
        gopax["rest balances"].run(b'[{"asset":"KRW","avail":1,"hold":"sNaN"}]')


@pytest.mark.parametrize("level", ['["84000011",50010000.0,0.5,"12abc"]', '["x",50010000.0,0.5,"1796000000000"]',
                                   f'["1",1.0,1.0,"{"9" * 400}"]', f'["{"9" * 5000}",1.0,1.0,"1"]'])
def test_a_rest_book_level_whose_id_or_time_is_no_number_raises_the_venue_error(gopax: dict[str, Target], level: str) -> None:
    with pytest.raises(VenueError):  # int() raised ValueError, int / 1000 OverflowError
        gopax["rest book"].run(f'{{"ask":[{level}],"bid":[]}}'.encode())


class _Books:
    """A client whose GET /book answers with a level that is no number, then a good book."""

    def __init__(self) -> None:
        self.answers = [b'{"ask":[["84000011",50010000.0,0.5,"12abc"]],"bid":[]}',
                        b'{"ask":[["84000011",50010000.0,0.5,"1796000000000"]],"bid":[["84000012",49990000.0,1.0,"1796000000000"]]}']

    async def book(self, pair: str, level: int | None = None) -> w.Book:
        return w.decode_book(self.answers.pop(0))


async def test_a_resync_that_gets_a_bad_rest_book_asks_again_instead_of_dying() -> None:
    feed = GopaxFeed("gopax", "ws://127.0.0.1:9", bus=_Bus(), clock=_Clock(), client=_Books(),  # type: ignore[arg-type]
                     resync_backoff_s=(0.001, 0.001))
    book = feed.books["BTC-KRW"] = LocalBook("BTC-KRW", "gopax:BTC-KRW")
    await asyncio.wait_for(feed._resync(book), timeout=10)  # the task died on the ValueError before
    assert book.synced and book.top() == (49990000.0, 1.0, 50010000.0, 0.5) and feed.resyncs == 2


@pytest.mark.parametrize("pairs", [
    b'[{"name":"BTC-KRW","baseAsset":"BTC","quoteAsset":"KRW","baseAssetScale":80000000000}]',  # scaleb: InvalidOperation
    b'[{"name":"BTC-KRW","baseAsset":"BTC","quoteAsset":"KRW","baseAssetScale":-3}]',
])
def test_a_trading_pair_with_an_odd_scale_is_refused(gopax: dict[str, Target], pairs: bytes) -> None:
    with pytest.raises(VenueError):
        gopax["rest trading pairs"].run(pairs)


def test_price_tick_tiers_with_a_nan_are_refused(gopax: dict[str, Target]) -> None:
    with pytest.raises(VenueError):
        gopax["rest price tick size"].run(b'[{"startPrice":0,"tickSize":1},{"startPrice":"nan","tickSize":5}]')


def _ws_order(**changes: Any) -> dict[str, Any]:
    o: dict[str, Any] = {
        "orderId": 98723, "status": 1, "side": 1, "type": 1, "price": 50000000, "orgAmount": 0.01, "remainAmount": 0.01,
        "createdAt": 1796000000.0, "updatedAt": 1796000000.0, "tradingPairName": "BTC-KRW",
    }
    o.update(changes)
    return o


class _Private:
    def __init__(self) -> None:
        self.orders: list[w.WsOrder] = []

    def on_ws_order(self, order: w.WsOrder) -> None:
        self.orders.append(order)

    def on_ws_trade(self, trade: w.WsTrade) -> None:
        raise AssertionError("no trade expected")

    def on_ws_balance(self, balance: w.WsBalance) -> None:
        raise AssertionError("no balance expected")


@pytest.mark.parametrize("frame", [
    {"n": "OrderEvent", "o": _ws_order(updatedAt=1e308)},  # int(inf) raised OverflowError in the parser
    {"n": "TradeEvent", "o": {"tradeId": 1, "orderId": 2, "side": 1, "baseAmount": 1, "quoteAmount": 1, "fee": 0,
                              "price": 1, "occurredAt": -1e308, "tradingPairName": "BTC-KRW"}},
    {"n": "PublicTradeEvent", "o": {"tradeId": 1, "baseAmount": 1.0, "quoteAmount": 1.0, "price": 1.0, "isBuy": True,
                                    "occurredAt": 1e300, "tradingPairName": "BTC-KRW"}},
    {"n": "OrderEvent", "o": _ws_order(price="Infinity")},
])
async def test_a_socket_frame_with_an_odd_number_is_malformed_not_a_crash_nor_an_unknown_kind(frame: dict[str, Any]) -> None:
    private = _Private()
    feed = GopaxFeed("gopax", "ws://127.0.0.1:9", bus=_Bus(), clock=_Clock(), client=None, private=private)  # type: ignore[arg-type]
    feed.ids["BTC-KRW"] = "gopax:BTC-KRW"
    with pytest.raises(msgspec.ValidationError):  # the feed's base counts, logs and drops it as malformed
        feed.on_message(msgspec.json.encode(frame))
    assert private.orders == [] and feed.unknown == {}  # not taken for a kind GOPAX added


async def test_an_order_event_with_an_undefined_side_is_dropped_and_counted(gopax: dict[str, Target]) -> None:
    """Already so before this change (BadMessage): kept as the issue's `SIDE_CODES[...]` case."""
    target = gopax["socket frames"]
    before = target.counters()
    target.run(msgspec.json.encode({"n": "OrderEvent", "o": _ws_order(side=7)}))
    assert target.counters() == before + 1


def test_valid_answers_still_decode_exactly() -> None:
    order = w.decode_order(msgspec.json.encode(_order(amount="0.00000001", price=123456789012)))
    assert order.amount == Decimal("0.00000001") and order.price == Decimal(123456789012) and order.side is Side.BUY


class _Bus:
    def publish(self, event: Any, key: Any = None) -> None:
        pass


class _Clock:
    def now_ns(self) -> int:
        return 1_796_000_000 * 1_000_000_000
