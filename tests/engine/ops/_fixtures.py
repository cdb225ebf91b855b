"""A paper engine with the ops surface on 127.0.0.1 (random port), and a strategy that keeps one
resting order and replaces it often (so pausing it visibly stops its new orders)."""

from __future__ import annotations

import asyncio
import contextlib
import textwrap
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from engine.app.config import load_config
from engine.app.runner import Engine
from engine.events import Order, OrderStatus, Quote
from engine.strategy.base import Strategy
from tests.helpers import until

HERE = "tests.engine.ops._fixtures"
TOKEN = "test-token-0123456789"


class Replacer(Strategy):
    """Every 3rd quote: cancel its resting buy and place a new one far below the bid."""

    def on_start(self) -> None:
        self.n = 0
        self.sent = 0
        self.last: Order | None = None
        self.rejected: list[Order] = []

    def on_order(self, order: Order) -> None:
        if order.status is OrderStatus.REJECTED:
            self.rejected.append(order)

    def on_quote(self, quote: Quote) -> None:
        self.n += 1
        if self.n % 3:
            return
        self.cancel_all()
        price = self.round_price(Decimal(repr(quote.bid)) * Decimal("0.5"), quote.instrument)
        self.last = self.buy(quote.instrument, "0.01", price)
        self.sent += 1


class Taker(Strategy):
    """Buys once at market, then holds (a position to flatten)."""

    def on_start(self) -> None:
        self.done = False

    def on_quote(self, quote: Quote) -> None:
        if not self.done:
            self.done = True
            self.buy(quote.instrument, "0.02")


def write_config(tmp_path: Path, *, extra: str = "", strategies: str | None = None) -> Path:
    strategies = strategies or f"""
        strategies:
          - name: rep
            plugin: {HERE}:Replacer
            instruments: ["sim:BTC-KRW"]
          - name: taker
            plugin: {HERE}:Taker
            instruments: ["sim:BTC-KRW"]
    """
    text = textwrap.dedent(f"""
        mode: paper
        speed: 5
        progress_s: 0
        journal: {tmp_path / "journal.sqlite"}
        state_dir: {tmp_path / "var"}
        venues:
          sim:
            type: synthetic
            seed: 3
            interval_ms: 100
            instruments:
              - {{symbol: "BTC-KRW", price: 50000000, tick: 1000, lot: 0.0001, size: 2.0}}
        paper:
          balances: {{KRW: 100000000000, BTC: 0}}
    """) + textwrap.dedent(strategies) + textwrap.dedent(extra)
    path = tmp_path / "ops.yaml"
    path.write_text(text)
    return path


@contextlib.asynccontextmanager
async def ops_engine(tmp_path: Path, *, extra: str | None = None, **kw: Any) -> AsyncIterator[Engine]:
    """A started paper engine serving the ops surface; stopped afterwards."""
    if extra is None:
        extra = f'http: {{listen: "127.0.0.1:0", token: "{TOKEN}", push_s: 0.2}}\n'
    plan = load_config(write_config(tmp_path, extra=extra, **kw))
    engine = Engine(plan)
    await asyncio.wait_for(engine.start(), 30)
    try:
        yield engine
    finally:
        await asyncio.wait_for(engine.stop(), 60)


def url(engine: Engine, path: str = "/") -> str:
    assert engine.ops is not None and engine.ops.server is not None
    return engine.ops.server.url.rstrip("/") + path


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def strategy_orders(engine: Engine, sid: str) -> int:
    return sum(1 for o in engine.manager.orders.values() if o.strategy_id == sid)


async def wait_open_order(engine: Engine, sid: str = "rep") -> None:
    await until(lambda: bool(engine.manager.open_orders(strategy_id=sid)), timeout=20)


async def get_json(session: aiohttp.ClientSession, target: str) -> Any:
    async with session.get(target) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()
