"""GOPAX decoding: the venue's decoders (msgspec Structs -> engine events) against json.loads plus
building the same events from dicts, in the same run. ns per message and the ratio.

Messages: the seed's ticker, a 50-levels-a-side order book (GET /book?level=2) and 100 recent
trades (GET /trades, the seed's row shape). Both paths turn times into ns the same way.
Prints figures; asserts nothing.

    python bench/gopax_decode.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from adapters.gopax import schemas as w  # noqa: E402
from adapters.gopax.feed import quote_from_ticker, snapshot_from_rest, trades_from_rest  # noqa: E402
from adapters.gopax.schemas import iso_ns  # noqa: E402
from bench._common import machine  # noqa: E402
from engine.events import BookSnapshot, Quote, Side, Trade  # noqa: E402

IID = "gopax:BTC-KRW"
NOW = 1_795_000_000_000_000_000

TICKER = b'{"price": 10194500, "ask": 10195000, "bid": 10184500, "volume": 1752.05558316, "time": "2018-03-14T03:50:41.184Z"}'


def book_json(levels: int = 50) -> bytes:
    ask = [[str(110815528 + i), 12371000 + 1000 * i, round(0.808 + i * 0.013, 8), str(1601030126425 + i)] for i in range(levels)]
    bid = [[str(108223577 + i), 12370000 - 1000 * i, round(0.724 + i * 0.011, 8), str(1600956121521 + i)] for i in range(levels)]
    return json.dumps({"sequence": 110815766, "ask": ask, "bid": bid}).encode()


def trades_json(n: int = 100) -> bytes:
    rows = [
        {"time": "2018-03-14T04:01:17.000Z", "date": 1521000077, "id": 6436174 - i, "price": 10163000 + (i % 7) * 500,
         "amount": round(0.38115097 / (1 + i % 5), 8), "side": "sell" if i % 2 else "buy"}
        for i in range(n)
    ]
    return json.dumps(rows).encode()


# --- the venue's path ------------------------------------------------------------------------


def venue_ticker(data: bytes) -> Quote:
    return quote_from_ticker(IID, w.decode_ticker(data), NOW)


def venue_book(data: bytes) -> BookSnapshot:
    return snapshot_from_rest(IID, w.decode_book(data), 50, NOW)


def venue_trades(data: bytes) -> list[Trade]:
    return trades_from_rest(IID, w.decode_public_trades(data), NOW)


# --- the baseline: json.loads, then the same events from dicts --------------------------------


def json_ticker(data: bytes) -> Quote:
    d = json.loads(data)
    return Quote(IID, float(d["bid"]), float(d["ask"]), float(d.get("bidVolume", 0.0)), float(d.get("askVolume", 0.0)),
                 iso_ns(d["time"]), NOW, float(d["price"]))


def json_ticker_struct(data: bytes) -> w.Ticker:
    d = json.loads(data)
    return w.Ticker(
        price=float(d["price"]), ask=float(d["ask"]), bid=float(d["bid"]), volume=float(d["volume"]),
        time=datetime.fromisoformat(d["time"]), askVolume=float(d.get("askVolume", 0.0)),
        bidVolume=float(d.get("bidVolume", 0.0)), quoteVolume=float(d.get("quoteVolume", 0.0)),
    )


def json_book(data: bytes) -> BookSnapshot:
    d = json.loads(data)
    bids = tuple([(float(px), float(vol)) for _, px, vol, _ in d["bid"][:50]])
    asks = tuple([(float(px), float(vol)) for _, px, vol, _ in d["ask"][:50]])
    return BookSnapshot(IID, bids, asks, NOW, NOW)


def json_trades(data: bytes) -> list[Trade]:
    rows = sorted(json.loads(data), key=lambda r: r["id"])
    return [
        Trade(IID, float(r["price"]), float(r["amount"]), iso_ns(r["time"]), NOW,
              Side.BUY if r["side"] == "buy" else Side.SELL, str(r["id"]))
        for r in rows
    ]


def per_message_ns(fn: Callable[[bytes], Any], data: bytes, rounds: int) -> float:
    """Best of 5 timed loops, in ns per call."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter_ns()
        for _ in range(rounds):
            fn(data)
        best = min(best, (time.perf_counter_ns() - started) / rounds)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20_000)
    args = parser.parse_args()
    cases = [
        ("ticker (seed)", TICKER, venue_ticker, json_ticker, args.rounds),
        ("book, 50 levels a side", book_json(), venue_book, json_book, max(args.rounds // 20, 100)),
        ("100 trades", trades_json(), venue_trades, json_trades, max(args.rounds // 50, 100)),
    ]
    print(f"machine: {machine()}")
    print(f"{'message -> engine events':<24} {'bytes':>6} {'venue ns':>10} {'json ns':>10} {'ratio':>7}  same events")
    for name, data, venue, baseline, rounds in cases:
        same = "yes" if venue(data) == baseline(data) else "NO"
        v = per_message_ns(venue, data, rounds)
        b = per_message_ns(baseline, data, rounds)
        print(f"{name:<24} {len(data):>6} {v:>10.0f} {b:>10.0f} {b / v:>6.1f}x  {same}")
    # The wire object alone: the venue decoder's Ticker against json.loads + the same Ticker built
    # from the dict. The rows above go on to the engine's Quote, a cost both paths share.
    same = "yes" if w.decode_ticker(TICKER) == json_ticker_struct(TICKER) else "NO"
    parse_v = per_message_ns(w.decode_ticker, TICKER, args.rounds)
    parse_b = per_message_ns(json_ticker_struct, TICKER, args.rounds)
    print(f"{'ticker -> wire Ticker':<24} {len(TICKER):>6} {parse_v:>10.0f} {parse_b:>10.0f} {parse_b / parse_v:>6.1f}x  {same}  (target >= 10x)")


if __name__ == "__main__":
    main()
