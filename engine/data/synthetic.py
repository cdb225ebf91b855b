"""A seeded, reproducible random walk of quotes and trades: the default run's market, and the
price process behind every venue emulator.

Prices move in whole ticks (a Bernoulli walk with an optional pull back to the start price), so
every price is exactly on the tick; it costs a few `random()` calls per event, cheap enough to
drive a million-quote replay.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import msgspec

from engine.events import Quote, Side, Trade


class WalkSpec(msgspec.Struct, kw_only=True, frozen=True):
    instrument: str
    price: float
    tick: float
    spread_ticks: int = 1
    size: float = 100.0
    move_prob: float = 0.4
    step_ticks: int = 1
    trade_prob: float = 0.3
    reversion: float = 0.002
    decimals: int | None = None


class _Walker:
    # the spec's fields copied flat: `step` reads them once per event
    __slots__ = ("spec", "instrument", "move_prob", "reversion", "step_ticks", "trade_prob", "ticks", "anchor",
                 "tick", "half", "decimals", "size", "seq", "prices")

    def __init__(self, spec: WalkSpec) -> None:
        self.spec = spec
        self.instrument = spec.instrument
        self.move_prob = spec.move_prob
        self.reversion = spec.reversion
        self.step_ticks = spec.step_ticks
        self.trade_prob = spec.trade_prob
        self.tick = spec.tick
        self.ticks = round(spec.price / spec.tick)
        self.anchor = self.ticks
        self.half = max(spec.spread_ticks, 1)
        self.decimals = spec.decimals if spec.decimals is not None else _decimals(spec.tick)
        self.size = spec.size
        self.seq = 0
        self.prices: dict[int, float] = {}  # tick count -> its price as the shortest float

    def price(self, ticks: int) -> float:
        value = self.prices.get(ticks)
        if value is None:
            value = self.prices[ticks] = round(ticks * self.tick, self.decimals)
        return value


class RandomWalk:
    def __init__(self, specs: list[WalkSpec], seed: int = 1) -> None:
        if not specs:
            raise ValueError("a random walk needs at least one instrument")
        self.rng = random.Random(seed)
        self._random = self.rng.random
        self.walkers = [_Walker(s) for s in specs]

    def step(self, index: int, ts_ns: int) -> tuple[Quote, Trade | None]:
        """Move instrument `index` and return its new quote and, sometimes, a trade."""
        w = self.walkers[index]
        rnd = self._random
        if rnd() < w.move_prob:
            pull = (w.anchor - w.ticks) * w.reversion
            up = 0.5 + (pull if -0.45 < pull < 0.45 else (0.45 if pull > 0 else -0.45))
            w.ticks += w.step_ticks if rnd() < up else -w.step_ticks
            if w.ticks <= w.half:
                w.ticks = w.half + 1
        ticks, half, prices = w.ticks, w.half, w.prices
        # a price is never 0.0 (ticks > half), so a miss is the only falsy answer
        bid = prices.get(ticks - half) or w.price(ticks - half)
        ask = prices.get(ticks + half) or w.price(ticks + half)
        r = rnd()
        size = w.size
        quote = Quote(w.instrument, bid, ask, size * (0.5 + r), size * (1.5 - r), ts_ns, ts_ns)
        if rnd() >= w.trade_prob:
            return quote, None
        w.seq += 1
        buy = r < 0.5
        trade = Trade(
            w.instrument,
            ask if buy else bid,
            size * 0.25 * (0.2 + r),
            ts_ns,
            ts_ns,
            Side.BUY if buy else Side.SELL,
            str(w.seq),
        )
        return quote, trade

    def events(self, start_ns: int, interval_ns: int, steps: int | None = None) -> Iterator[Quote | Trade]:
        """Every `interval_ns`, one step of each instrument (quote, then any trade)."""
        n = len(self.walkers)
        ts = start_ns
        done = 0
        step = self.step
        while steps is None or done < steps:
            ts += interval_ns
            for i in range(n):
                quote, trade = step(i, ts)
                yield quote
                if trade is not None:
                    yield trade
            done += 1

    def mid(self, index: int) -> float:
        w = self.walkers[index]
        return w.price(w.ticks)


def _decimals(tick: float) -> int:
    text = repr(tick)
    if "e-" in text:
        return int(text.split("e-")[1]) + 2
    return len(text.split(".")[1]) if "." in text else 0
