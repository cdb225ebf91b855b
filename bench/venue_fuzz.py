"""Fuzz campaign over every venue's wire boundary: GOPAX, Samco and smallcase answers, mutated.

For each venue it starts from realistic valid payloads (built here with the venue's own answer
Structs, in the shapes and with the values its emulator sends; Samco's scrip master CSV rendered by
`scrip.render`, as the emulator serves it),
mutates them (a value's type changed; odd strings such as "SELL", "", "NaN", "Infinity", "1e999",
"-0", very long digits; huge and negative numbers; fields dropped or added; null; nested junk;
truncated JSON; enum words in the wrong case) and pushes each input through the venue's real
decode + parse path: the venue's REST client (only its transport replaced by the canned answer),
the adapter method that turns the answer into engine events, the websocket feed's `on_message`,
the scrip master parser, the smallcase postback endpoint.

Outcomes per input: `ok` (decoded and parsed), `typed` (the project's typed venue error, or — at
a socket — the decoder's refusal, which the feed counts and drops as a malformed frame), `counted`
(the message was dropped and counted by the venue), and `other`: anything else, with the first
examples of each distinct exception type and where it was raised. Prints figures per venue and
exits 1 if any `other` remains. Times are printed, never asserted.

    python bench/venue_fuzz.py [--count 100000] [--seed 1] [--venue gopax|samco|smallcase]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import os
import random
import sys
import time
import traceback
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import msgspec

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from engine.errors import VenueError  # noqa: E402
from engine.events import Balance, Fill, Order, OrderReport, OrderType, Side  # noqa: E402
from engine.venue.rest import Response  # noqa: E402

T = TypeVar("T")
NS = 1_000_000_000
NOW_NS = 1_796_000_000 * NS  # 2026-12-01, a fixed clock: the campaign is reproducible
ROOT = Path(__file__).resolve().parent.parent

# --- mutations -----------------------------------------------------------------------------------

# Raw JSON tokens a string stand-in is replaced by after encoding (msgspec cannot write them).
RAW = {
    "@1e999": b"1e999", "@-1e999": b"-1e999", "@1e-999": b"1e-999", "@NaN": b"NaN", "@Infinity": b"Infinity",
    "@big": b"9" * 400, "@-0": b"-0", "@0e0": b"0e0", "@1E400": b"1E400", "@frac": b"0." + b"0" * 300 + b"1",
    "@1e18": b"1e18", "@-1e308": b"-1e308",
}
ODD_STRINGS: tuple[Any, ...] = (
    "SELL", "BUY", "sell", "Buy", "", " ", "NaN", "nan", "Infinity", "-Infinity", "inf", "1e999", "-1e999",
    "-0", "0", "-1", "sNaN", "1e-999999", "9" * 400, "0." + "0" * 400 + "1", "1,234.5", "--", "NA", "null",
    "abc", "12abc", "0x1F", "1_000", "\u0000", "\u00e9\u00e8", "x" * 5000, "2018-03-14T03:50:41.184Z",
    "2018-13-45T99:99:99Z", "9999-12-31T23:59:59.999Z", "0001-01-01T00:00:00Z", "2026-02-30T00:00:00",
    "20/11/2026 09:20:01", "20-Nov-2026 09:20:01", "99/99/9999 99:99:99", "20NOV2026", "01 Oct 2019, 01:17:03 PM",
    "1e18", "1e308", "-1e308", "1E+400", "COMPLETE", "complete", "PLACED", "placed", "cancelled", "CANCELLED",
    "Rejected", "Trigger Pending", "ERRORED", "COMPLETED", "PROCESSING", "NSE", "BSE", "EQ", "L", "MKT",
)
ODD_VALUES: tuple[Any, ...] = (
    None, True, False, 0, -1, 1, 2, 3, 5, 10**30, -(10**30), 2**63, -(2**63) - 1, 2**64, 1.5, -0.0, 1e308, -1e308,
    5e-324, 1e18, [], {}, [None], {"a": [1, {"b": None}]}, [[[[]]]], *RAW.keys(),
)


def _case(value: str, rng: random.Random) -> str:
    return rng.choice((value.upper(), value.lower(), value.swapcase(), value.title(), f" {value} "))


ODD_NUMBERS: tuple[Any, ...] = (
    0, -1, 1, 2, 3, 5, 10**30, -(10**30), 2**63, -(2**63) - 1, 2**64, 10**45, 1.5, -0.0, 1e308, -1e308, 5e-324, 1e18,
    1e-45, *RAW.keys(),
)


def _odd(rng: random.Random, current: Any) -> Any:
    roll = rng.random()
    if rng.random() < 0.5:  # the same JSON type, an odd value: what a decoder lets through
        if isinstance(current, str):
            return _case(current, rng) if current and roll < 0.3 else rng.choice(ODD_STRINGS)
        if isinstance(current, (int, float)) and not isinstance(current, bool):
            return rng.choice(ODD_NUMBERS)
    if isinstance(current, str) and current and roll < 0.15:
        return _case(current, rng)
    if isinstance(current, (int, float)) and not isinstance(current, bool) and roll < 0.3:
        return rng.choice((str(current), -current, current * 10**rng.randint(1, 40), current + 0.5, f"{current}e999"))
    if isinstance(current, str) and roll < 0.3:
        try:
            return rng.choice((int(current), float(current)))
        except ValueError:
            pass
    value = rng.choice(ODD_STRINGS) if rng.random() < 0.5 else rng.choice(ODD_VALUES)
    return msgspec.json.decode(msgspec.json.encode(value)) if isinstance(value, (list, dict)) else value  # a fresh copy


def _slots(node: Any, out: list[tuple[Any, Any]]) -> None:
    """Every (container, key) of a decoded JSON tree, depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((node, key))
            _slots(value, out)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.append((node, i))
            _slots(value, out)


def mutate_json(seed: bytes, rng: random.Random) -> bytes:
    """One mutated input from a JSON seed: one to three changes, or a cut of the text."""
    if rng.random() < 0.06:
        cut = rng.randrange(len(seed))
        return seed[:cut] if rng.random() < 0.7 else seed[:cut] + rng.choice((b"}", b"]", b",", b'"', b"\x00", b"\xff"))
    if b"\n" in seed.strip():  # several documents, one a line (Samco's ticks): one of them changed
        lines = seed.split(b"\n")
        i = rng.randrange(len(lines))
        lines[i] = mutate_json(lines[i], rng) if lines[i].strip() else lines[i]
        return b"\n".join(lines)
    tree = msgspec.json.decode(seed)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        slots: list[tuple[Any, Any]] = []
        _slots(tree, slots)
        if not slots:
            tree = _odd(rng, tree)
            continue
        container, key = rng.choice(slots)
        op = rng.random()
        if op < 0.55:
            container[key] = _odd(rng, container[key])
        elif op < 0.68 and isinstance(container, dict):
            del container[key]
        elif op < 0.76 and isinstance(container, dict):
            container[rng.choice(("extra", "zz", key + "X", "n", "o", "i"))] = _odd(rng, None)
        elif op < 0.84 and isinstance(container, list):
            container.insert(key, container[key] if rng.random() < 0.5 else _odd(rng, None))
        elif op < 0.9 and isinstance(container, list):
            del container[key]
        else:
            container[key] = rng.choice(([container[key]], {"v": container[key]}, None))
    return encode_tree(tree)


def encode_tree(tree: Any) -> bytes:
    """A JSON tree as bytes, the `RAW` stand-ins written as the raw tokens they stand for."""
    data = msgspec.json.encode(tree)
    for marker, raw in RAW.items():
        quoted = b'"' + marker.encode() + b'"'
        if quoted in data:
            data = data.replace(quoted, raw)
    return data


def replace_at(seed: bytes, changes: list[tuple[int, Any]]) -> bytes:
    """`seed` with each (slot number, value) of `changes` set (slot numbers wrap around the tree's
    slots, depth first; the value `...` deletes a key): the suite's property tests draw the
    changes with hypothesis (`inputs`)."""
    tree = msgspec.json.decode(seed)
    for index, value in changes:
        slots: list[tuple[Any, Any]] = []
        _slots(tree, slots)
        if not slots:
            return encode_tree(value)
        container, key = slots[index % len(slots)]
        if value is ... and isinstance(container, dict):
            del container[key]
        else:
            container[key] = None if value is ... else value
    return encode_tree(tree)


def mutate_csv(seed: str, rng: random.Random) -> str:
    """One mutated scrip master: cells changed, rows cut or doubled, columns dropped, odd bytes."""
    lines = seed.split("\n")
    for _ in range(rng.choice((1, 1, 2, 3))):
        op = rng.random()
        i = rng.randrange(len(lines))
        if op < 0.6 and lines[i]:
            cells = lines[i].split(",")
            j = rng.randrange(len(cells))
            value = _odd(rng, cells[j])
            cells[j] = value if isinstance(value, str) else str(value)
            lines[i] = ",".join(cells)
        elif op < 0.7:
            lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
        elif op < 0.78:
            lines.insert(i, lines[i])
        elif op < 0.84:
            lines[i] = lines[i] + rng.choice((',"', ",x,y,z", '"unterminated', "\x00", ",\r\n,", '""'))
        elif op < 0.9:
            lines[i] = '"' + "x" * 140_000 + '"' if rng.random() < 0.1 else ",".join(lines[i].split(",")[:-1])
        else:
            del lines[i]
            if not lines:
                lines = [""]
    return "\n".join(lines)


def inputs(target: Target) -> Any:
    """A hypothesis strategy of inputs for `target` (the suite's always-on sample): a seed with one
    to three values replaced by generated JSON or odd values, or mutated by `target.mutate` driven
    by a hypothesis-drawn Random (CSV and several-line seeds always are)."""
    from hypothesis import strategies as st

    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
        st.sampled_from(ODD_STRINGS), st.sampled_from(ODD_NUMBERS),
    )
    junk = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                        max_leaves=6)
    odd = st.sampled_from(ODD_STRINGS + ODD_NUMBERS)  # mostly what a decoder lets through: the interesting part
    values = st.one_of(odd, odd, odd, junk)

    def build(seed: Any, changes: list[tuple[int, Any]], rng: random.Random, mutate: bool) -> Any:
        if mutate or not isinstance(seed, bytes) or b"\n" in seed.strip():
            return target.mutate(seed, rng)
        return replace_at(seed, changes)

    change = st.tuples(st.integers(0, 10_000), values | st.just(...))  # ... deletes the key
    return st.builds(build, st.sampled_from(target.seeds), st.lists(change, min_size=1, max_size=3),
                     st.randoms(use_true_random=False), st.booleans())


def outcome(target: Target, data: Any) -> BaseException | None:
    """Push one input through `target`: None if it parsed or was refused as the venue's typed error
    (at a socket: also the decoder's refusal, which the feed counts and drops), else what it raised."""
    try:
        target.run(data)
    except VenueError:
        return None
    except msgspec.MsgspecError as exc:
        return None if target.socket else exc
    except Exception as exc:  # noqa: BLE001 - what the campaign is looking for
        return exc
    return None


# --- outcomes ------------------------------------------------------------------------------------


@dataclass
class Outcomes:
    ok: int = 0
    typed: int = 0
    counted: int = 0
    other: int = 0
    by_target: dict[str, list[int]] = field(default_factory=dict)  # target -> [ok, typed, counted, other]
    examples: dict[tuple[str, str, str], tuple[bytes | str, str]] = field(default_factory=dict)

    def add(self, target: str, kind: int) -> None:
        row = self.by_target.setdefault(target, [0, 0, 0, 0])
        row[kind] += 1
        if kind == 0:
            self.ok += 1
        elif kind == 1:
            self.typed += 1
        elif kind == 2:
            self.counted += 1
        else:
            self.other += 1

    @property
    def total(self) -> int:
        return self.ok + self.typed + self.counted + self.other


def _where(exc: BaseException) -> str:
    """The innermost frame inside the project that raised `exc`."""
    frames = traceback.extract_tb(exc.__traceback__)
    inside = [f for f in frames if str(ROOT) in f.filename and "/bench/" not in f.filename] or frames
    f = inside[-1]
    return f"{Path(f.filename).relative_to(ROOT) if str(ROOT) in f.filename else f.filename}:{f.lineno} {f.name}"


def drive(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never really waits (the transport is canned) to its end, in one step."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("the coroutine waited on something (the campaign's transport never does)")


@dataclass
class Target:
    """One wire entry point: seeds, how to mutate them, how to push one input through, and what
    the venue counts when it drops a message (a rise means `counted`)."""

    name: str
    seeds: list[Any]
    run: Callable[[Any], None]
    mutate: Callable[[Any, random.Random], Any] = mutate_json
    counters: Callable[[], int] = lambda: 0
    socket: bool = False  # the decoder's refusal is the feed's counted, dropped malformed frame


def campaign(targets: list[Target], count: int, rng: random.Random, outcomes: Outcomes) -> None:
    """`count` inputs spread over the targets: mostly mutated seeds, a few seeds as they are."""
    for i in range(count):
        target = targets[i % len(targets)]
        seed = rng.choice(target.seeds)
        data = seed if rng.random() < 0.02 else target.mutate(seed, rng)
        before = target.counters()
        try:
            target.run(data)
        except VenueError:
            outcomes.add(target.name, 1)
            continue
        except msgspec.MsgspecError as exc:
            if target.socket:
                outcomes.add(target.name, 1)
                continue
            _other(outcomes, target, data, exc)
            continue
        except Exception as exc:  # noqa: BLE001 - what the campaign is looking for
            _other(outcomes, target, data, exc)
            continue
        outcomes.add(target.name, 2 if target.counters() > before else 0)


def _other(outcomes: Outcomes, target: Target, data: Any, exc: BaseException) -> None:
    outcomes.add(target.name, 3)
    key = (target.name, type(exc).__name__, _where(exc))
    if key not in outcomes.examples and len(outcomes.examples) < 200:
        outcomes.examples[key] = (data[:300] if isinstance(data, (bytes, str)) else repr(data)[:300], repr(exc)[:200])


# --- shared stand-ins ----------------------------------------------------------------------------


class Sink:
    """The order manager's place: takes every event, keeps counts."""

    def __init__(self) -> None:
        self.reports = self.fills = self.balances = 0

    def on_order_report(self, report: OrderReport) -> None:
        self.reports += 1

    def on_fill(self, fill: Fill) -> None:
        self.fills += 1

    def on_balance(self, balance: Balance) -> None:
        self.balances += 1


class Clock:
    def now_ns(self) -> int:
        return NOW_NS


class Bus:
    def __init__(self) -> None:
        self.published = 0

    def publish(self, event: Any, key: Any = None) -> None:
        self.published += 1


def context(name: str, tmp: Path) -> Any:
    from engine.venue.contract import VenueContext

    return VenueContext(name=name, bus=Bus(), clock=Clock(), sink=Sink(), state_dir=tmp, mode="live")  # type: ignore[arg-type]


def canned(cls: type[T]) -> type[T]:
    """A venue's REST client whose transport answers with `self.answers[path]` (else the default)."""

    class Canned(cls):  # type: ignore[valid-type,misc]
        answers: dict[str, bytes]
        default: bytes = b"[]"

        async def request(self, method: str, path: str, **kw: Any) -> Response:
            body = self.answers.get(path)
            if body is None:
                body = next((v for k, v in self.answers.items() if k.endswith("*") and path.startswith(k[:-1])), self.default)
            return Response(200, {}, body)

        async def call(self, method: str, path: str, **kw: Any) -> Response:
            kw.pop("tif", None)
            kw.pop("explain_403", None)
            return await self.request(method, path, **kw)

    return Canned


ERROR_STATUSES = (200, 400, 401, 403, 404, 409, 429, 500, 503)


def error_target(name: str, seeds: list[bytes], error_for: Callable[[int, bytes], VenueError | None]) -> Target:
    """An answer's error envelope: the client's `error_for` must give the typed error (or None for a
    success) whatever the body, at every status."""
    statuses = itertools.cycle(ERROR_STATUSES)  # one status after another

    def run(data: bytes) -> None:
        found = error_for(next(statuses), data)
        if found is not None:
            raise found

    return Target(name, seeds, run)


def order(venue: str, instrument: str, side: Side = Side.BUY, qty: str = "1", price: str | None = "100", **kw: Any) -> Order:
    return Order(
        client_order_id=kw.pop("coid", "c-1"), strategy_id="s", instrument=instrument, venue=venue, side=side,
        type=kw.pop("type", OrderType.LIMIT), qty=Decimal(qty), price=Decimal(price) if price else None,
        created_ns=NOW_NS - 60 * NS, **kw,
    )


# --- GOPAX ---------------------------------------------------------------------------------------


def gopax_targets(tmp: Path) -> tuple[list[Target], Callable[[], None]]:
    from adapters.gopax import schemas as w
    from adapters.gopax.adapter import GopaxVenue
    from adapters.gopax.book import LocalBook
    from adapters.gopax.client import GopaxClient
    from adapters.gopax.config import GopaxConfig
    from adapters.gopax.feed import GopaxFeed, GopaxPoller, quote_from_ticker, snapshot_from_rest
    from adapters.gopax.parsing import tick_at

    enc = w.encode
    iso = w.ns_iso
    t0 = NOW_NS - 30 * NS
    rest_orders = [
        w.Order(id="98723", side=Side.BUY, type="limit", tradingPairName="BTC-KRW", amount=Decimal("0.01"),
                price=Decimal("50000000"), status="placed", remaining=Decimal("0.01"), clientOrderId="c-1",
                timeInForce="gtc", protection="no", createdAt=iso(t0), updatedAt=iso(t0),
                balanceChange=w.BalanceChange()),
        w.Order(id="98724", side=Side.SELL, type="limit", tradingPairName="ETH-KRW", amount=Decimal("1.5"),
                price=Decimal("3000000"), status="updated", remaining=Decimal("0.5"), clientOrderId="c-2",
                forcedCompletionReason=None, createdAt=iso(t0), updatedAt=iso(t0 + NS),
                balanceChange=w.BalanceChange(baseGross=Decimal("-1.0"), baseNet=Decimal("-1.0"),
                                              quoteGross=Decimal("3000000"), quoteFee=w.FeeSplit(taking=Decimal("600")),
                                              quoteNet=Decimal("2999400"))),
        w.Order(id="98725", side=Side.BUY, type="limit", tradingPairName="BTC-KRW", amount=Decimal("0.02"),
                price=Decimal("49000000"), stopPrice=Decimal("49500000"), status="reserved", remaining=Decimal("0.02"),
                createdAt=iso(t0), updatedAt=iso(t0)),
        w.Order(id="98726", side=Side.BUY, type="market", tradingPairName="BTC-KRW", amount=Decimal("100000"),
                status="completed", remaining=Decimal("0"), createdAt=iso(t0), updatedAt=iso(t0 + 2 * NS)),
    ]
    trades = [
        w.OwnTrade(id=1001, orderId=98724, baseAmount=Decimal("1.0"), quoteAmount=Decimal("3000000"), fee=Decimal("600"),
                   price=Decimal("3000000"), timestamp=iso(t0 + NS), side=Side.SELL, tradingPairName="ETH-KRW",
                   feeAsset="KRW", position="taker"),
        w.OwnTrade(id=1002, orderId="98726", baseAmount=Decimal("0.002"), quoteAmount=Decimal("100000"),
                   fee=Decimal("0.0000004"), price=Decimal("50000000"), timestamp=iso(t0 + 2 * NS), side=Side.BUY,
                   tradingPairName="BTC-KRW", position="maker"),
    ]
    balances = [w.Balance(asset="KRW", avail=Decimal("100000000"), hold=Decimal("500000"), pendingWithdrawal=Decimal("0"),
                          lastUpdatedAt=iso(t0)),
                w.Balance(asset="BTC", avail=Decimal("1.23456789"), hold=Decimal("0.01"))]
    pair = w.TradingPair(name="BTC-KRW", baseAsset="BTC", quoteAsset="KRW", id=1, baseAssetScale=8, quoteAssetScale=0,
                         priceMin=Decimal("1"), restApiOrderAmountMin=w.OrderAmountMin(
                             *(w.AmountMin(Decimal("10000"), "KRW") for _ in range(4))),
                         makerFeePercent=Decimal("0.2"), takerFeePercent=Decimal("0.2"))
    ticks = [w.TickSize(Decimal("0"), Decimal("1")), w.TickSize(Decimal("1000"), Decimal("5")),
             w.TickSize(Decimal("1000000"), Decimal("1000"))]
    ms = str(t0 // 1_000_000)
    book = w.Book(ask=[("84000011", 50010000.0, 0.5, ms), ("84000012", 50020000.0, 1.25, ms)],
                  bid=[("84000013", 49990000.0, 0.75, ms), ("84000014", 49980000.0, 2.0, ms)], sequence=84000014)
    ticker = b'{"price":50000000,"ask":50010000,"bid":49990000,"volume":123.4,"time":"2026-12-01T00:00:00.000Z","askVolume":0.5,"bidVolume":0.75,"quoteVolume":6170000000}'
    public_trades = b'[{"time":"2026-12-01T00:00:00.000Z","id":5001,"price":50000000,"amount":0.01,"side":"buy","date":1796000000},{"time":"2026-12-01T00:00:01.000Z","id":5002,"price":49990000,"amount":0.02,"side":"sell"}]'
    candles = enc([[NOW_NS // 1_000_000 - 180_000, 49900000, 50100000, 50000000, 50050000, 12.5],
                   [NOW_NS // 1_000_000 - 120_000, 49950000, 50150000, 50050000, 50100000, 3.25]])
    s = t0 / NS
    ws_order = w.WsOrder(orderId=98724, status=4, side=2, type=1, price=Decimal("3000000"), orgAmount=Decimal("1.5"),
                         remainAmount=Decimal("0.5"), createdAt=s, updatedAt=s + 1, tradingPairName="ETH-KRW",
                         tradedBaseAmount=Decimal("1.0"), tradedQuoteAmount=Decimal("3000000"), feeAmount=Decimal("600"),
                         feeAssetName="KRW", timeInForce=0, protection=1, clientOrderId="c-2")
    ws_trade = w.WsTrade(tradeId=1001, orderId=98724, side=2, baseAmount=Decimal("1.0"), quoteAmount=Decimal("3000000"),
                         fee=Decimal("600"), price=Decimal("3000000"), occurredAt=s + 1, tradingPairName="ETH-KRW",
                         feeAssetName="KRW")
    ws_balance = w.WsBalance(isoAlpha3="KRW", avail=Decimal("100000000"), hold=Decimal("500000"), assetId=1,
                             lastUpdatedAt=s)
    entries = [w.BookEntry(84000021, 50010000.0, 0.5, s), w.BookEntry(84000022, 50020000.0, 0.0, s)]
    bids = [w.BookEntry(84000023, 49990000.0, 0.75, s)]
    frames = [
        enc(w.OrderEvent(o=ws_order)), enc(w.TradeEvent(o=ws_trade)), enc(w.BalanceEvent(o=ws_balance)),
        enc(w.OrdersReply(o=w.OrdersData(data=[ws_order]), i=4)), enc(w.BalancesReply(o=w.BalancesData(data=[ws_balance]), i=6)),
        enc(w.TradingPairReply(o=w.BookData(ask=entries[:1], bid=bids, tradingPairName="BTC-KRW", maxEntryId=84000020), i=1)),
        enc(w.OrderBookEvent(o=w.BookData(ask=entries, bid=[], tradingPairName="BTC-KRW"))),
        enc(w.PublicTradeEvent(o=w.PublicTradeData(tradeId=5003, baseAmount=0.01, quoteAmount=500000.0, price=50000000.0,
                                                    isBuy=True, occurredAt=s, tradingPairName="BTC-KRW"))),
        enc(w.TickersReply(o=w.TickersData(data=[w.TickerRow(tradingPairName="ETH-KRW", highestBid=2999000.0,
                                                             lowestAsk=3001000.0, last=3000000.0,
                                                             lastTraded=t0 // 1_000_000)]), i=3)),
        enc(w.TickerEvent(o={"ETH-KRW": w.TickerRow(tradingPairName="ETH-KRW", last=3000000.0, lastTraded=t0 // 1_000_000)})),
        enc(w.TradesReply(o=w.Reply(result=False, errCode=10325, errData="Already subscribed"), i=5)),
        b'"primus::ping::1796000000000"',
    ]

    Client = canned(GopaxClient)
    client = Client("gopax", "http://127.0.0.1:9")
    client.default = b"[]"
    ctx = context("gopax", tmp)
    venue = GopaxVenue(ctx, GopaxConfig(api_key="k" * 64, secret="s"))
    venue.client = client
    venue._trading = True
    venue._connected_ns = t0 - 60 * NS
    venue._pairs["BTC-KRW"] = pair
    bus = Bus()
    feed = GopaxFeed("gopax", "ws://127.0.0.1:9", bus=bus, clock=Clock(), client=client, private=venue)  # type: ignore[arg-type]
    feed.ids.update({"BTC-KRW": "gopax:BTC-KRW", "ETH-KRW": "gopax:ETH-KRW"})
    feed.books["BTC-KRW"] = LocalBook("BTC-KRW", "gopax:BTC-KRW")
    poller = GopaxPoller("gopax", client, bus=bus, clock=Clock())  # type: ignore[arg-type]
    valid_book = enc(book)

    def answer(path: str, body: bytes) -> None:
        client.answers = {path: body, "/trading-pairs/*": valid_book}

    def run_orders(data: bytes) -> None:
        answer("/orders", data)
        drive(venue.open_orders())

    def run_order(data: bytes) -> None:
        answer("/orders/98724", data)
        drive(venue.order_status(order("gopax", "gopax:ETH-KRW", venue_order_id="98724")))

    def run_trades(data: bytes) -> None:
        answer("/trades", data)
        drive(venue.fills_since(t0 - 3600 * NS))

    def run_look(data: bytes) -> None:  # the sync core's look: trades since the connect, finished orders
        client.answers = {"/trades": data, "/orders": b"[]", "/orders/*": enc(rest_orders[3])}
        drive(venue.look(0, frozenset({"98726"})))

    def run_look_orders(data: bytes) -> None:
        client.answers = {"/trades": b"[]", "/orders": data, "/orders/*": enc(rest_orders[3])}
        drive(venue.look(1000, frozenset({"98723", "98726"})))

    def run_balances(data: bytes) -> None:
        answer("/balances", data)
        drive(venue.balances())

    def run_pairs(data: bytes) -> None:
        answer("/trading-pairs", data)
        for p in drive(client.trading_pairs()):
            venue._instrument(p, Decimal(1))

    def run_ticks(data: bytes) -> None:
        answer("/trading-pairs/BTC-KRW/price-tick-size", data)
        tick_at(drive(client.price_tick_size("BTC-KRW")), 50_000_000.0)

    def run_book(data: bytes) -> None:
        answer("/trading-pairs/BTC-KRW/book", data)
        got = drive(client.book("BTC-KRW"))
        snapshot_from_rest("gopax:BTC-KRW", got, 20, NOW_NS)
        LocalBook("BTC-KRW").load_rest(got)

    def run_ticker(data: bytes) -> None:
        answer("/trading-pairs/BTC-KRW/ticker", data)
        quote_from_ticker("gopax:BTC-KRW", drive(client.ticker("BTC-KRW")), NOW_NS)

    def run_public_trades(data: bytes) -> None:
        answer("/trading-pairs/BTC-KRW/trades", data)
        poller._last_trade.clear()
        poller._trades("gopax:BTC-KRW", drive(client.recent_trades("BTC-KRW")))

    def run_candles(data: bytes) -> None:
        answer("/trading-pairs/BTC-KRW/candles", data)
        poller._last_bar.clear()
        poller._bars("gopax:BTC-KRW", drive(client.candles("BTC-KRW", start_ms=0, end_ms=1, interval_min=1)))

    def run_frame(data: bytes) -> None:
        feed.on_message(data)

    def dropped() -> int:
        return (sum(venue.bad_messages.values()) + sum(venue.unknown_statuses.values()) + sum(feed.unknown.values())
                + len(feed.refusals) + feed.gaps)

    targets = [
        Target("rest orders (open_orders)", [enc(rest_orders)], run_orders, counters=dropped),
        Target("rest order (order_status)", [enc(o) for o in rest_orders], run_order, counters=dropped),
        Target("rest own trades (fills_since)", [enc(trades)], run_trades),
        Target("rest look (trades since connect)", [enc(trades)], run_look, counters=dropped),
        Target("rest look (finished orders)", [enc(rest_orders[:2])], run_look_orders, counters=dropped),
        Target("rest balances", [enc(balances)], run_balances),
        Target("rest trading pairs", [enc([pair])], run_pairs),
        Target("rest price tick size", [enc(ticks)], run_ticks),
        Target("rest book", [valid_book], run_book),
        Target("rest ticker", [ticker], run_ticker),
        Target("rest public trades", [public_trades], run_public_trades),
        Target("rest candles", [candles], run_candles),
        Target("socket frames", frames, run_frame, counters=dropped, socket=True),
        error_target("error answers", [b'{"errorMessage":"Invalid Order Id","errorCode":202,"errorData":null}',
                                       b'{"errorMessage":"Rate Limit Exceeded","errorCode":10105}'],
                     lambda status, body: client.error_for(status, body, {})),
    ]

    def finish() -> None:
        for task in list(feed._resyncs.values()) + list(feed._sends) + list(feed._dropping):
            task.cancel()

    return targets, finish


# --- Samco ---------------------------------------------------------------------------------------


def samco_targets(tmp: Path) -> tuple[list[Target], Callable[[], None]]:
    from adapters.samco import schemas as w
    from adapters.samco import scrip
    from adapters.samco.adapter import SamcoVenue, _instruments_of
    from adapters.samco.client import SamcoClient
    from adapters.samco.config import SamcoConfig
    from adapters.samco.feed import OrderPoller, QuotePoller, SamcoFeed
    from adapters.samco.parsing import report_from_reply
    from adapters.samco.scrip import Scrip
    from adapters.samco.ticks import DepthValue, Tick, TickFrame, TickResponse

    enc = w.encode
    ok = {"serverTime": "01/12/2026 10:00:00", "msgId": "m-1", "status": "Success", "statusMessage": "ok"}
    rows = [
        w.OrderRow(orderNumber="261201000000001", exchange="NSE", tradingSymbol="RELIANCE-EQ", symbol="2885_NSE",
                   transactionType="BUY", productCode="CNC", orderType="L", orderPrice="1290.50", triggerPrice="0",
                   orderValidity="DAY", orderStatus="OPEN", orderValue="12905.00", orderTime="01-Dec-2026 09:20:01",
                   quantity="10", totalQuanity="10", pendingQuantity="6", filledQuantity="4", fillPrice="1290.50",
                   averagePrice="1290.50", exchangeOrderNumber="1100000000012345"),
        w.OrderRow(orderNumber="261201000000002", exchange="NSE", tradingSymbol="INFY-EQ", transactionType="SELL",
                   productCode="MIS", orderType="SL", orderPrice="1500.00", triggerPrice="1505.00", orderValidity="DAY",
                   orderStatus="Trigger Pending", orderTime="01-Dec-2026 09:21:00", quantity="5", totalQuanity="5",
                   pendingQuantity="5", filledQuantity="0"),
        w.OrderRow(orderNumber="261201000000003", exchange="NSE", tradingSymbol="TCS-EQ", transactionType="BUY",
                   orderType="MKT", orderStatus="Rejected", rejectionReason="RMS: margin", quantity="1",
                   totalQuanity="1", filledQuantity="0", orderTime="01-Dec-2026 09:22:00"),
        w.OrderRow(orderNumber="261201000000004", exchange="NSE", tradingSymbol="SBIN-EQ", transactionType="BUY",
                   orderType="L", orderPrice="800.00", orderStatus="Complete", quantity="3", totalQuanity="3",
                   filledQuantity="3", averagePrice="799.95", orderTime="01-Dec-2026 09:23:00"),
    ]
    book = {**ok, "orderBookDetails": msgspec.to_builtins(rows)}
    trade_rows = [
        w.TradeRow(orderNumber="261201000000001", exchange="NSE", tradingSymbol="RELIANCE-EQ", transactionType="BUY",
                   productCode="CNC", orderType="L", orderPrice="1290.50", quantity="10", filledQuantity="4",
                   tradeQuantity="4", exchangeOrderNumber="1100000000012345", tradeNumber="50001", tradePrice="1290.50",
                   tradeDate="01DEC2026", tradeTime="09:20:05"),
        w.TradeRow(orderNumber="261201000000004", exchange="NSE", tradingSymbol="SBIN-EQ", transactionType="BUY",
                   quantity="3", filledQuantity="3", tradeNumber="50002", tradePrice="799.95",
                   tradeDate="01DEC2026", tradeTime="01/12/2026 09:23:01"),
        w.TradeRow(orderNumber="261201000000004", exchange="NSE", tradingSymbol="SBIN-EQ", transactionType="BUY",
                   quantity="3", filledQuantity="1", tradePrice="799.90", tradeDate="01DEC2026", tradeTime="09:23:00"),
    ]
    trade_book = {**ok, "tradeBookDetails": msgspec.to_builtins(trade_rows)}
    details = w.OrderDetails(pendingQuantity="6", avgExecutionPrice="1290.50", tradingSymbol="RELIANCE-EQ",
                             exchange="NSE", totalQuantity="10", transactionType="BUY", productType="CNC", orderType="L",
                             quantity="10", filledQuantity="4", orderPrice="1290.50", orderValidity="DAY",
                             orderTime="01/12/2026 09:20:01")
    place = {**ok, "orderNumber": "261201000000001", "orderStatus": "OPEN", "orderDetails": msgspec.to_builtins(details)}
    status = {**ok, "orderNumber": "261201000000001", "orderStatus": "Complete", "orderDetails": msgspec.to_builtins(details)}
    limits = {**ok, "equityLimit": {"grossAvailableMargin": "100000.00", "payInToday": "0", "notionalCash": "0",
                                    "marginUsed": "12905.00", "netAvailableMargin": "87095.00"}}
    positions = {**ok, "positionDetails": [
        {"tradingSymbol": "RELIANCE-EQ", "exchange": "NSE", "productCode": "CNC", "netQuantity": "4",
         "buyQuantity": "4", "sellQuantity": "0", "averageBuyPrice": "1290.50", "averagePrice": "1290.50",
         "realizedGainAndLoss": "0.00", "lastTradedPrice": "1291.00"},
        {"tradingSymbol": "INFY-EQ", "exchange": "NSE", "productCode": "MIS", "netQuantity": "-2",
         "averageSellPrice": "1500.00", "realizedGainAndLoss": "-12.50"}]}
    quote = {**ok, "symbolName": "RELIANCE", "tradingSymbol": "RELIANCE-EQ", "exchange": "NSE", "listingId": "2885",
             "lastTradedPrice": "1291.00", "lastTradedQuantity": "5", "totalTradedVolume": "1234567",
             "bestBids": [{"number": "1", "quantity": "120", "price": "1290.95"}],
             "bestAsks": [{"number": "1", "quantity": "80", "price": "1291.05"}]}
    csv_seed = scrip.render([
        Scrip("NSE", "2885_NSE", "RELIANCE-EQ", "RELIANCE INDUSTRIES", "EQ", Decimal(1), Decimal("0.05"), last_price="1291.00", segment="NSE"),
        Scrip("NSE", "1594", "INFY-EQ", "INFOSYS", "EQ", Decimal(1), Decimal("0.05"), segment="NSE"),
        Scrip("NFO", "35001_NFO", "NIFTY26DECFUT", "NIFTY", "FUTIDX", Decimal(75), Decimal("0.05"), expiry="2026-12-31", segment="NFO"),
        Scrip("NFO", "35002_NFO", "NIFTY26DEC24000CE", "NIFTY", "OPTIDX", Decimal(75), Decimal("0.05"), expiry="2026-12-31",
              strike="24000", segment="NFO"),
        Scrip("BSE", "500325_BSE", "RELIANCE", "RELIANCE INDUSTRIES", "", Decimal(1), Decimal("0.01"), segment="BSE"),
        Scrip("MCX", "240001_MCX", "GOLD26DECFUT", "GOLD", "FUTCOM", Decimal(1), Decimal(1), segment="MCX"),
    ])
    utc = w.utc_tick_text(NOW_NS)
    tick_frames = [
        enc(Tick(sym="2885_NSE", streaming_type="quote", ltp="1291.00", ltq="5", lttUTC=utc, vol="1234567",
                 bPr="1290.95", bSz="120", aPr="1291.05", aSz="80")),
        enc(TickFrame(response=TickResponse(streaming_type="quote", data=Tick(
            symbol="2885_NSE", ltp="1,291.00", ltq="", lttUTC=utc, vol="1234570", bPr="1290.95", bSz="--", aPr="1291.05", aSz="80")))),
        enc(TickFrame(response=TickResponse(streaming_type="quote2", data=Tick(
            symbol="2885_NSE", bidValues=[DepthValue("1", "120", "1290.95"), DepthValue("2", "300", "1290.90")],
            askValues=[DepthValue("1", "80", "1291.05")])))),
        enc(TickFrame(response=TickResponse(status="Failure", statusMessage="invalid symbol", streaming_type="quote"))),
        enc(Tick(sym="1594_NSE", ltp="1500.00", bPr="1499.95", bSz="10", aPr="1500.05", aSz="12", vol="100")) + b"\n"
        + enc(Tick(sym="2885_NSE", ltp="1291.05", bPr="1291.00", bSz="1", aPr="1291.10", aSz="2", vol="1234580", lttUTC=utc)),
    ]

    Client = canned(SamcoClient)
    client = Client("samco", "http://127.0.0.1:9", api_key="k", api_secret="s", now_ns=Clock().now_ns)
    client.default = enc(ok)
    ctx = context("samco", tmp)
    venue = SamcoVenue(ctx, SamcoConfig(api_key="k", api_secret="s"))
    venue.client = client
    for s, inst in _instruments_of("samco", scrip.parse(csv_seed), set()):
        venue._instruments[inst.id] = inst
        venue._iids[(s.exchange, s.trading_symbol.upper())] = inst.id
        venue._iids[(s.exchange, inst.base.upper())] = inst.id
    poller = OrderPoller("samco:orders", client, lambda _: None, fast_s=0.5, slow_s=2, idle_s=15, fast_window_s=5)
    venue.orders = poller
    bus = Bus()
    quotes = QuotePoller("samco", client, bus=bus, clock=Clock(), interval_s=1)  # type: ignore[arg-type]
    feed = SamcoFeed("samco", "ws://127.0.0.1:9", bus=bus, clock=Clock(), auth=client.auth)  # type: ignore[arg-type]
    feed.ids.update({"2885_NSE": "samco:NSE:RELIANCE", "1594_NSE": "samco:NSE:INFY"})
    valid_book, valid_trades = enc(book), enc(trade_book)
    buy = order("samco", "samco:NSE:RELIANCE", qty="10", price="1290.50")

    def run_book(data: bytes) -> None:
        client.answers = {"/order/orderBook": data, "/trade/tradeBook": valid_trades}
        drive(venue.open_orders())
        poller._fresh, poller._filled = True, {}
        venue._look(drive(poller.poll_now()))

    def run_trades(data: bytes) -> None:
        client.answers = {"/order/orderBook": valid_book, "/trade/tradeBook": data}
        getattr(venue, "_bad_rows", set()).clear()  # each input on its own: a bad row is counted the first time it is seen
        drive(venue.fills_since(0))
        poller._fresh, poller._filled = True, {}
        venue._look(drive(poller.poll_now()))

    def run_match(data: bytes) -> None:  # order_status without an order number: the book matched
        client.answers = {"/order/orderBook": data}
        from adapters.samco.parsing import match_order

        inst = venue._inst(buy.instrument)
        match_order(drive(client.order_book()), buy, inst, {}, NOW_NS - 3600 * NS)

    def run_reply(data: bytes, path: str) -> None:
        client.answers = {path: data}
        if path == "/order/getOrderStatus":
            reply: Any = drive(client.order_status("261201000000001"))
        else:
            reply = drive(client.place(w.OrderRequest(symbolName="RELIANCE", exchange="NSE", transactionType="BUY",
                                                      orderType="L", quantity="10", orderValidity="DAY", productType="CNC")))
        word = reply.orderStatus or getattr(reply, "exchangeOrderStatus", "")
        report_from_reply("samco", word, reply.orderNumber, reply.orderDetails, buy, NOW_NS, venue.words)

    def run_limits(data: bytes) -> None:
        client.answers = {"/limit/getLimits": data}
        drive(venue.balances())

    def run_positions(data: bytes) -> None:
        client.answers = {"/position/getPositions": data}
        drive(venue.positions())

    def run_quote(data: bytes) -> None:
        client.answers = {"/quote/getQuote": data}
        quotes._publish("samco:NSE:RELIANCE", drive(client.quote("RELIANCE", "NSE")))

    dropped_rows = [0]

    def run_scrips(text: str) -> None:
        if hasattr(scrip, "parse_counted"):
            rows, dropped = scrip.parse_counted(text)
        else:  # the code before the drop count (the campaign also runs against it, for the before figures)
            rows, dropped = scrip.parse(text), 0
        dropped_rows[0] += dropped
        _instruments_of("samco", rows, set())

    def run_tick(data: bytes) -> None:
        feed.on_message(data)

    claims = enc({"exp": NOW_NS // NS + 8 * 3600, "iat": NOW_NS // NS, "sub": "DEMO1"})
    login_seed = claims + b"\n" + enc({**ok, "sessionToken": "@token", "validity": "2026-12-02T02:30:00Z", "accountID": "DEMO1",
                                          "exchangeList": ["NSE", "BSE"], "serverTime": "01/12/2026 10:00:00"})
    login_jwt_seed = claims + b"\n" + enc({"status": "Success", "sessionToken": "@token", "accountID": "DEMO1"})  # the JWT's times

    def run_login(data: bytes) -> None:  # the session token's expiry: the reply's validity, else the JWT's claims
        from adapters.samco.auth import expiry_of

        first, _, rest = data.partition(b"\n")
        token = "eyJhbGciOiJIUzI1NiJ9." + base64.urlsafe_b64encode(first).decode().rstrip("=") + ".c2ln"
        client.answers = {"/session/token": rest.replace(b'"@token"', msgspec.json.encode(token))}
        expiry_of(drive(client.login()), NOW_NS)

    def dropped() -> int:
        return sum(venue.unknown_statuses.values()) + getattr(venue, "bad_trade_rows", 0) + feed.unknown + len(feed.refusals) + feed.malformed + dropped_rows[0]

    targets = [
        Target("rest order book (open_orders, poll)", [valid_book], run_book, counters=dropped),
        Target("rest trade book (fills_since, poll)", [valid_trades], run_trades, counters=dropped),
        Target("rest order book (matching)", [valid_book], run_match),
        Target("rest placeOrder reply", [enc(place)], lambda d: run_reply(d, "/order/placeOrder"), counters=dropped),
        Target("rest getOrderStatus reply", [enc(status)], lambda d: run_reply(d, "/order/getOrderStatus"), counters=dropped),
        Target("rest limits (balances)", [enc(limits)], run_limits),
        Target("rest positions", [enc(positions)], run_positions),
        Target("rest quote", [enc(quote)], run_quote),
        Target("scrip master csv", [csv_seed], run_scrips, mutate=mutate_csv, counters=dropped),
        Target("stream ticks", tick_frames, run_tick, counters=dropped, socket=True),
        Target("login reply (session expiry)", [login_seed, login_jwt_seed], run_login),
        error_target("error answers", [enc({**ok, "status": "Failure", "statusMessage": "Insufficient funds", "errorCode": "E1"}),
                                       enc({"status": "Failure", "statusMessage": "Session Expired. Please login again."})],
                     lambda status, body: client.error_for(status, body, {})),
    ]
    return targets, lambda: None


# --- smallcase -----------------------------------------------------------------------------------


def smallcase_targets(tmp: Path) -> tuple[list[Target], Callable[[], None]]:
    from adapters.smallcase import schemas as w
    from adapters.smallcase.auth import GatewayAuth, checksum
    from adapters.smallcase.client import SmallcaseClient
    from adapters.smallcase.config import SmallcaseConfig
    from adapters.smallcase.feed import PostbackReceiver, TransactionPoller
    from adapters.smallcase.parsing import view_of_postback
    from adapters.smallcase.transactions import Book

    enc = w.encode
    txid = "TRX_0123456789abcdef"
    batch = w.OrderBatch(
        batchId="B-1", status="PARTIALLYFILLED", transactionId=txid, quantity=Decimal(15), filled=Decimal(12),
        buyAmount=Decimal("12905.0"), sellAmount=Decimal("3000.0"), completedDate="2026-12-01T04:00:00.000Z",
        orders=[
            w.BatchOrder(tradingsymbol="RELIANCE", transactionType="BUY", quantity=Decimal(10), filledQuantity=Decimal(10),
                         averagePrice=Decimal("1290.5"), status="COMPLETE", exchangeOrderId="1100000000012345"),
            w.BatchOrder(tradingsymbol="NSE:INFY-EQ", transactionType="SELL", quantity=Decimal(5), filledQuantity=Decimal(2),
                         averagePrice=Decimal("1500"), status="PARTIAL"),
        ],
        unplaced=[w.BatchOrder(tradingsymbol="TCS", transactionType="BUY", quantity=Decimal(1), status="ERROR",
                               errorCode="insufficient_funds", statusMessage="RMS")],
    )
    fix = w.OrderBatch(batchId="B-2", status="COMPLETED", transactionId=txid, variety="fix",
                       orders=[w.BatchOrder(tradingsymbol="INFY", transactionType="SELL", quantity=Decimal(3),
                                            filledQuantity=Decimal(3), averagePrice=Decimal("1501.5"), status="COMPLETE")])
    status_seeds = [
        enc(w.Envelope(success=True, data=w.TransactionData(transactionId=txid, transactionDetails=w.TransactionDetails(
            status=word, intent="TRANSACTION", createdAt="2026-12-01T03:59:00.000Z", expireAt="2026-12-01T04:04:00.000Z",
            smallcaseAuthId="auth-1", error=w.TransactionError("user_cancelled", 1008) if word == "ERRORED" else None))))
        for word in ("PROCESSING", "COMPLETED", "USED", "INITIALIZED", "ERRORED")
    ]
    details_seeds = [enc(w.Envelope(success=True, data=w.OrderDetails(orderBatches=b, transactionId=txid, smallcaseAuthId="auth-1")))
                     for b in ([batch], [batch, fix], [])]
    postback_seeds = [enc(w.Postback(transactionId=txid, orderBatches=b, smallcaseAuthId="auth-1", status=s, intent="TRANSACTION",
                                     timestamp="2026-12-01T04:00:05.000Z",
                                     error=w.TransactionError("transaction_expired") if s == "ERRORED" else None))
                      for b, s in (([batch], "PROCESSING"), ([batch, fix], "COMPLETED"), ([], "ERRORED"))]
    holdings = enc(w.Envelope(success=True, data=w.Holdings(securities=[
        w.HoldingSecurity(holdings=w.HoldingAmount(Decimal(10), Decimal("1290.5")), nseTicker="RELIANCE", isin="INE002A01018")],
        smallcaseAuthId="auth-1", broker="kite")))

    Client = canned(SmallcaseClient)
    client = Client("smallcase", "http://127.0.0.1:9", "gw", GatewayAuth("secret", "api-secret"))
    config = SmallcaseConfig(gateway_name="gw", secret="secret", api_secret="api-secret")
    sink = Sink()
    poller = TransactionPoller("smallcase", client, open_transactions=list, on_view=lambda v: None, now_ns=Clock().now_ns)
    orders = {
        ("RELIANCE", "BUY"): order("smallcase", "smallcase:NSE:RELIANCE", Side.BUY, "10", None, type=OrderType.MARKET, coid="c-1"),
        ("INFY", "SELL"): order("smallcase", "smallcase:NSE:INFY", Side.SELL, "5", None, type=OrderType.MARKET, coid="c-2"),
        ("TCS", "BUY"): order("smallcase", "smallcase:NSE:TCS", Side.BUY, "1", None, type=OrderType.MARKET, coid="c-3"),
    }
    state: dict[str, Book] = {}

    class NoQuestions:
        async def look(self, since: int, working: frozenset[str], *, fills: bool = True) -> Any:
            raise AssertionError("not asked in the campaign")

    def fresh_book(adopted: bool) -> Book:
        book = Book("smallcase", config, sink, questions=NoQuestions(), venue_now_ns=Clock().now_ns, now_ns=Clock().now_ns,
                    read_again=lambda: None)
        book.new(txid, dict(orders))
        book.transactions[txid].adopted = adopted
        state["book"] = book
        return book

    def run_view(status: bytes, details: bytes) -> None:
        client.answers = {"/v1/gw/engine/transactiondetails": status, "/v1/gw/engine/orderdetails": details}
        book = fresh_book(adopted=True)
        view = drive(poller.view(txid, NOW_NS - NS))
        book.apply(view)
        book.look(book.transactions[txid], view)

    receiver = PostbackReceiver("api-secret", lambda p: _apply_postback(p), scheme="header", now_ns=Clock().now_ns)
    raised: list[BaseException] = []

    def _apply_postback(payload: w.Postback) -> None:
        book = state["book"]
        if payload.transactionId in book.transactions:
            try:
                book.apply(view_of_postback(payload))
            except BaseException as exc:
                raised.append(exc)  # the endpoint answers 500 and logs; the campaign wants to know what it was
                raise

    class Request:
        def __init__(self, body: bytes) -> None:
            self.body = body
            self.headers = {"x-gateway-checksum": checksum("api-secret", body)}

        async def read(self) -> bytes:
            return self.body

    def run_postback(data: bytes) -> None:
        fresh_book(adopted=False)
        receiver._latest.clear()
        receiver._digests.clear()
        raised.clear()
        drive(receiver.handle(Request(data)))  # type: ignore[arg-type]
        if raised:
            raise raised[0]

    def run_holdings(data: bytes) -> None:
        client.answers = {"/v1/gw/engine/user/holdings": data}
        drive(client.holdings())

    def run_created(data: bytes) -> None:
        client.answers = {"/gateway/gw/transaction": data}
        drive(client.create_transaction(w.CreateTransaction(intent="TRANSACTION")))

    def dropped() -> int:
        book = state.get("book")
        return sum(book.sync.stats.unknown_statuses.values()) if book is not None else 0

    def refused() -> int:
        return sum(receiver.refused.values()) + dropped()

    created_seed = enc(w.Envelope(success=True, data=w.Created(transactionId=txid, expireAt="2026-12-01T04:05:00.000Z")))
    targets = [
        Target("transaction status (poll view)", status_seeds, lambda d: run_view(d, details_seeds[1]), counters=dropped),
        Target("order details (poll view)", details_seeds, lambda d: run_view(status_seeds[0], d), counters=dropped),
        Target("order details, COMPLETED (poll view)", details_seeds, lambda d: run_view(status_seeds[1], d), counters=dropped),
        Target("postback (endpoint)", postback_seeds, run_postback, counters=refused),
        Target("holdings", [holdings], run_holdings),
        Target("create transaction answer", [created_seed], run_created),
        error_target("error answers", [enc({"success": False, "errors": ["invalid_transactionId"], "data": None}),
                                       enc({"success": False, "errors": [{"message": "transaction_expired", "code": 1012}], "data": None})],
                     lambda status, body: client.error_for(status, body, {})),
    ]
    return targets, lambda: None


VENUES: dict[str, Callable[[Path], tuple[list[Target], Callable[[], None]]]] = {
    "gopax": gopax_targets, "samco": samco_targets, "smallcase": smallcase_targets,
}


def _iter_examples(outcomes: Outcomes) -> Iterator[str]:
    for (target, kind, where), (data, text) in sorted(outcomes.examples.items()):
        yield f"    {kind} at {where} [{target}]: {text}\n      input: {data!r}"


async def main(count: int, seed: int, venues: list[str]) -> int:
    import tempfile

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(50))  # critical only: millions of bad inputs
    from bench._common import machine

    print(f"machine: {machine()}")
    print(f"inputs per venue: {count:,}, seed {seed}")
    remaining = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in venues:
            rng = random.Random(f"{seed}:{name}")
            targets, finish = VENUES[name](Path(tmp) / name)
            outcomes = Outcomes()
            started = time.perf_counter()
            campaign(targets, count, rng, outcomes)
            wall = time.perf_counter() - started
            finish()
            print(f"\n{name}: {outcomes.total:,} inputs in {wall:.1f} s over {len(targets)} entry points: ok {outcomes.ok:,}, "
                  f"typed venue error {outcomes.typed:,}, dropped and counted {outcomes.counted:,}, anything else {outcomes.other:,}")
            for target, (ok, typed, counted, other) in outcomes.by_target.items():
                print(f"  {target:42} ok {ok:7,}  typed {typed:7,}  counted {counted:6,}  other {other:6,}")
            if outcomes.other:
                print("  first examples of each exception:")
                for line in _iter_examples(outcomes):
                    print(line)
            remaining += outcomes.other
    await asyncio.sleep(0)
    return 1 if remaining else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000, help="inputs per venue")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--venue", choices=sorted(VENUES), action="append", help="one venue (repeatable); default all")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.count, args.seed, args.venue or list(VENUES))))
