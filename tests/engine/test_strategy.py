"""engine.strategy.base: the Strategy base and the StrategyHost error policy, on a real engine in
backtest mode (synthetic venue, simulated clock, inline bus: deterministic)."""

from __future__ import annotations

import asyncio
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import structlog

from engine.app.config import load_config
from engine.app.runner import Engine
from engine.clock import SimulatedClock
from engine.data.bus import Bus
from engine.events import Fill, Order, OrderStatus, OrderType, Pending, Quote, Side, TimeInForce
from engine.strategy.base import NoParams, Strategy, StrategyContext, StrategyHost

TIMEOUT = 30.0
START = "2026-01-05T00:00:00Z"
START_NS = 1_767_571_200 * 1_000_000_000
NS = 1_000_000_000
HERE = "tests.engine.test_strategy"


# --- strategies under test (loaded by the engine as `tests.engine.test_strategy:Name`) -------


class Raiser(Strategy):
    def on_start(self) -> None:
        self.calls = 0

    def on_quote(self, quote: Quote) -> None:
        self.calls += 1
        raise RuntimeError(f"bad quote #{self.calls}")


class EveryTwentieth(Strategy):
    """Raises on every 20th quote: with a short error window it is never stopped."""

    def on_start(self) -> None:
        self.calls = 0

    def on_quote(self, quote: Quote) -> None:
        self.calls += 1
        if self.calls % 20 == 0:
            raise RuntimeError("now and then")


class TraderParams(msgspec.Struct, forbid_unknown_fields=True):
    every: int = 20
    qty: Decimal = Decimal("0.01")


class Trader(Strategy):
    """Alternates market buys and sells every `every` quotes; records what it sees."""

    Params = TraderParams

    def on_start(self) -> None:
        self.n = 0
        self.fills: list[Fill] = []
        self.positions_at_fill: list[Decimal] = []
        self.updates: list[Order] = []

    def on_quote(self, quote: Quote) -> None:
        self.n += 1
        if self.n % self.params.every or self.open_orders():
            return
        held = self.position().qty
        if held > 0:
            self.sell(quote.instrument, held)
        else:
            self.buy(quote.instrument, self.params.qty)

    def on_order(self, order: Order) -> None:
        self.updates.append(order)

    def on_fill(self, fill: Fill) -> None:
        self.fills.append(fill)
        self.positions_at_fill.append(self.position().qty)


class AsyncQuoter(Strategy):
    def on_start(self) -> None:
        self.got: list[int] = []

    async def on_quote(self, quote: Quote) -> None:
        await asyncio.sleep(0)
        self.got.append(quote.ts_event)


class SyncQuoter(Strategy):
    def on_start(self) -> None:
        self.got: list[int] = []

    def on_quote(self, quote: Quote) -> None:
        self.got.append(quote.ts_event)


class Ticker(Strategy):
    def on_start(self) -> None:
        self.seen: list[tuple[str, int]] = []
        self.every(1.0, self.tick)
        self.every(2.5, name="slow")

    def tick(self) -> None:
        self.seen.append(("tick", self.now_ns))

    async def on_timer(self, name: str) -> None:
        self.seen.append((name, self.now_ns))

    def on_quote(self, quote: Quote) -> None:
        self.seen.append(("quote", quote.ts_event))


class Typer(Strategy):
    """On its first quote: one order of each type, then a modify and a cancel."""

    def on_start(self) -> None:
        self.orders: dict[str, Order] = {}
        self.answers: dict[str, Order | None] = {}

    def on_quote(self, quote: Quote) -> None:
        if self.orders:
            return
        inst = quote.instrument
        tick = self.instrument().tick_size
        low = self.round_price(quote.bid * 0.99, side=Side.BUY)
        high = self.round_price(quote.ask * 1.01, side=Side.SELL)
        self.orders = {
            "market": self.buy(inst, "0.01"),
            "limit": self.buy(inst, Decimal("0.01"), low),
            "stop_market": self.buy(inst, 0.01, trigger=high),
            "stop_limit": self.buy(inst, "0.01", high + tick, trigger=high),
            "ioc": self.buy(inst, "0.01", low, tif="ioc"),
        }
        self.answers["modify"] = self.modify(self.orders["limit"], price=low - tick)
        self.answers["cancel"] = self.cancel(self.orders["stop_market"])
        self.new_price = low - tick


class FailsToStart(Strategy):
    def on_start(self) -> None:
        raise ValueError("cannot start")

    def on_quote(self, quote: Quote) -> None:  # never called
        raise AssertionError("on_quote after a failed start")


# --- harness ---------------------------------------------------------------------------------


def backtest_yaml(strategies: str, *, duration: float = 30, extra: str = "") -> str:
    return textwrap.dedent(
        f"""\
        mode: backtest
        journal: null
        start: {START}
        duration_s: {duration}
        venues:
          sim:
            type: synthetic
            seed: 5
            interval_ms: 100
            instruments:
              - {{symbol: "BTC-KRW", price: 135000000, tick: 1000, lot: 0.0001, size: 2, move_prob: 0.6}}
        paper:
          balances: {{KRW: 100000000, BTC: 0}}
          fees: {{bps: 4}}
          latency_ms: 10
        """
    ) + extra + "strategies:\n" + textwrap.indent(textwrap.dedent(strategies), "  ")


async def run_backtest(tmp_path: Path, text: str, name: str = "bt") -> tuple[Engine, dict[str, Any]]:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    plan = load_config(path)
    engine = Engine(plan)

    async def go() -> None:
        await engine.start()
        await engine.run()
        await engine.stop()

    await asyncio.wait_for(go(), TIMEOUT)
    return engine, engine.summary()


def strategy(engine: Engine, name: str) -> Any:
    return next(h.strategy for h in engine.hosts if h.strategy.id == name)


def host(engine: Engine, name: str) -> StrategyHost:
    return next(h for h in engine.hosts if h.strategy.id == name)


# --- error policy ----------------------------------------------------------------------------


async def test_a_strategy_raising_on_every_quote_is_stopped_after_max_errors_and_another_trades_on(tmp_path: Path) -> None:
    text = backtest_yaml(
        f"""\
        - name: raiser
          plugin: {HERE}:Raiser
          instruments: ["sim:BTC-KRW"]
          max_errors: 3
          error_window_s: 60
        - name: trader
          plugin: {HERE}:Trader
          instruments: ["sim:BTC-KRW"]
        """
    )
    engine, summary = await run_backtest(tmp_path, text)
    raiser = host(engine, "raiser")
    assert raiser.errors == 3
    assert raiser.strategy.calls == 3  # no event reached it after it was stopped
    assert raiser.stopped_reason is not None
    assert raiser.stopped_reason.startswith("3 errors within 60s; last: RuntimeError('bad quote #3')")
    assert summary["strategies"]["raiser"]["stopped"] == raiser.stopped_reason
    assert summary["bus"]["handler_errors"] == 3
    trader = host(engine, "trader")
    assert trader.stopped_reason == "engine stopping" and trader.errors == 0
    assert len(trader.strategy.fills) >= 4
    assert summary["strategies"]["trader"]["fills"] == len(trader.strategy.fills)


async def test_errors_spread_wider_than_the_window_do_not_stop_a_strategy(tmp_path: Path) -> None:
    text = backtest_yaml(
        f"""\
        - name: sometimes
          plugin: {HERE}:EveryTwentieth
          instruments: ["sim:BTC-KRW"]
          max_errors: 2
          error_window_s: 1.5
        """
    )
    engine, _ = await run_backtest(tmp_path, text)
    h = host(engine, "sometimes")
    assert h.errors == 300 // 20  # one quote per 100 ms for 30 s: an error every 2 s
    assert h.stopped_reason == "engine stopping"


async def test_a_strategy_whose_on_start_fails_is_stopped_at_once_and_the_others_go_on(tmp_path: Path) -> None:
    text = backtest_yaml(
        f"""\
        - name: broken
          plugin: {HERE}:FailsToStart
          instruments: ["sim:BTC-KRW"]
        - name: fine
          plugin: {HERE}:SyncQuoter
          instruments: ["sim:BTC-KRW"]
        """
    )
    engine, summary = await run_backtest(tmp_path, text)
    broken = host(engine, "broken")
    assert broken.stopped_reason == "on_start failed: ValueError('cannot start')"
    assert broken.errors == 1
    assert len(strategy(engine, "fine").got) == 300
    assert summary["strategies"]["broken"]["stopped"] == broken.stopped_reason


async def test_queued_strategy_is_not_called_again_once_stopped_even_with_events_queued() -> None:
    bus = Bus()
    clock = SimulatedClock(0)
    ctx = StrategyContext(
        id="r", instruments=["sim:A"], bus=bus, clock=clock, orders=None, portfolio=None,  # type: ignore[arg-type]
        venue_for=lambda i: "paper",
    )
    h = StrategyHost(Raiser(ctx, NoParams()), max_errors=3, error_window_s=60)
    await asyncio.wait_for(h.start(), TIMEOUT)
    for i in range(100):  # all queued before the strategy's task gets to run
        bus.publish(Quote("sim:A", 1.0, 2.0, 1.0, 1.0, i, i), "sim:A")
    await asyncio.wait_for(bus.drain(), TIMEOUT)
    assert h.strategy.calls == 3
    assert h.errors == 3
    assert h.stopped_reason is not None
    await asyncio.wait_for(h.stop(), TIMEOUT)


async def test_events_published_while_an_async_on_start_runs_wait_for_it() -> None:
    class SlowStart(Strategy):
        async def on_start(self) -> None:
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            self.ready = True
            self.got: list[int] = []

        def on_quote(self, quote: Quote) -> None:
            self.got.append(quote.ts_event)  # AttributeError if called before on_start ended

    bus = Bus()
    ctx = StrategyContext(
        id="s", instruments=["sim:A"], bus=bus, clock=SimulatedClock(0), orders=None, portfolio=None,  # type: ignore[arg-type]
        venue_for=lambda i: "paper",
    )
    h = StrategyHost(SlowStart(ctx, NoParams()))

    async def feed() -> None:
        for i in range(5):
            bus.publish(Quote("sim:A", 1.0, 2.0, 1.0, 1.0, i, i), "sim:A")
            await asyncio.sleep(0)

    await asyncio.wait_for(asyncio.gather(h.start(), feed()), TIMEOUT)
    await asyncio.wait_for(bus.drain(), TIMEOUT)
    assert h.errors == 0
    assert h.strategy.got == [0, 1, 2, 3, 4]
    await asyncio.wait_for(h.stop(), TIMEOUT)


# --- callbacks, timers, orders ---------------------------------------------------------------


async def test_async_and_plain_on_quote_see_the_same_quotes(tmp_path: Path) -> None:
    text = backtest_yaml(
        f"""\
        - name: asynchronous
          plugin: {HERE}:AsyncQuoter
          instruments: ["sim:BTC-KRW"]
        - name: plain
          plugin: {HERE}:SyncQuoter
          instruments: ["sim:BTC-KRW"]
        """,
        duration=10,
    )
    engine, summary = await run_backtest(tmp_path, text)
    got = strategy(engine, "asynchronous").got
    assert len(got) == 100
    assert got == strategy(engine, "plain").got
    assert summary["strategies"]["asynchronous"]["errors"] == 0
    assert summary["strategies"]["asynchronous"]["handled"] == 100


async def test_every_fires_on_engine_time_in_order_with_the_events(tmp_path: Path) -> None:
    text = backtest_yaml(
        f"""\
        - name: ticker
          plugin: {HERE}:Ticker
          instruments: ["sim:BTC-KRW"]
        """,
        duration=10,
    )
    engine, _ = await run_backtest(tmp_path, text)
    seen = strategy(engine, "ticker").seen
    ticks = [ts for kind, ts in seen if kind == "tick"]
    slow = [ts for kind, ts in seen if kind == "slow"]
    assert ticks == [START_NS + k * NS for k in range(1, 11)]
    assert slow == [START_NS + k * 5 * NS // 2 for k in range(1, 5)]
    stamps = [ts for _, ts in seen]
    assert stamps == sorted(stamps)  # timers interleave with quotes in time order
    for i, (kind, ts) in enumerate(seen):
        if kind == "tick":  # every quote before the tick is older, every one after is not
            assert all(t < ts for k, t in seen[:i] if k == "quote")
            assert all(t >= ts for k, t in seen[i + 1:] if k == "quote")


async def test_order_helpers_return_at_once_and_infer_the_order_type(tmp_path: Path) -> None:
    text = backtest_yaml(
        f"""\
        - name: typer
          plugin: {HERE}:Typer
          instruments: ["sim:BTC-KRW"]
        """,
        duration=5,
        extra="cancel_on_stop: false\n",
    )
    engine, _ = await run_backtest(tmp_path, text)
    s = strategy(engine, "typer")
    placed = s.orders
    # returned before anything was sent
    assert {o.status for o in placed.values()} == {OrderStatus.NEW}
    assert placed["market"].type is OrderType.MARKET and placed["market"].price is None
    assert placed["limit"].type is OrderType.LIMIT
    assert placed["stop_market"].type is OrderType.STOP_MARKET
    assert placed["stop_limit"].type is OrderType.STOP_LIMIT
    assert placed["stop_limit"].trigger_price is not None
    assert placed["limit"].tif is TimeInForce.GTC  # a spot instrument
    assert placed["ioc"].tif is TimeInForce.IOC
    assert placed["limit"].qty == placed["stop_market"].qty == Decimal("0.01")
    assert s.answers["modify"] is not None and s.answers["modify"].pending is Pending.MODIFY
    assert s.answers["cancel"] is not None and s.answers["cancel"].pending is Pending.CANCEL
    final = {k: engine.manager.get(o.client_order_id) for k, o in placed.items()}
    assert final["market"].status is OrderStatus.COMPLETED
    assert final["limit"].status is OrderStatus.PLACED
    assert final["limit"].price == s.new_price and final["limit"].pending is None
    assert final["stop_market"].status is OrderStatus.CANCELLED
    assert final["ioc"].status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED)


async def test_position_and_balance_follow_the_fills(tmp_path: Path) -> None:
    text = backtest_yaml(
        f"""\
        - name: trader
          plugin: {HERE}:Trader
          instruments: ["sim:BTC-KRW"]
          params: {{every: 15, qty: 0.02}}
        """,
    )
    engine, summary = await run_backtest(tmp_path, text)
    s = strategy(engine, "trader")
    assert len(s.fills) >= 4
    running = Decimal(0)
    for f, seen in zip(s.fills, s.positions_at_fill, strict=True):
        running += f.qty if f.side is Side.BUY else -f.qty
        assert seen == running  # on_fill sees the position including this fill
    assert all(f.strategy_id == "trader" and f.client_order_id for f in s.fills)
    assert s.position().qty == running
    spent = sum((f.qty * f.price * (1 if f.side is Side.BUY else -1) + f.fee for f in s.fills), Decimal(0))
    assert s.balance("KRW") + engine.portfolio.balance("paper", "KRW").locked == Decimal(100_000_000) - spent
    assert {u.status for u in s.updates} >= {OrderStatus.NEW, OrderStatus.SUBMITTED, OrderStatus.COMPLETED}
    assert summary["reconciliation"]["ok"] is True


async def test_the_strategy_logger_is_bound_to_its_name(tmp_path: Path) -> None:
    text = backtest_yaml(
        f"""\
        - name: plain-one
          plugin: {HERE}:SyncQuoter
          instruments: ["sim:BTC-KRW"]
        """,
        duration=1,
    )
    engine, _ = await run_backtest(tmp_path, text)
    with structlog.testing.capture_logs() as logs:
        strategy(engine, "plain-one").log.info("hello", x=1)
    assert logs == [{"strategy": "plain-one", "x": 1, "event": "hello", "log_level": "info"}]


# --- determinism -----------------------------------------------------------------------------


async def test_two_runs_of_the_same_backtest_give_identical_summaries(tmp_path: Path) -> None:
    text = backtest_yaml(
        """\
        - name: grid
          plugin: grid
          instruments: ["sim:BTC-KRW"]
          params: {levels: 3, step_ticks: 1, qty: 0.01}
        - name: mr
          plugin: mean_reversion
          instruments: ["sim:BTC-KRW"]
          params: {window: 50, qty: 0.01, requote_s: 1}
        """,
        duration=120,
    )
    summaries = []
    for _ in range(2):
        _, summary = await run_backtest(tmp_path, text, name="same")
        summary.pop("wall_s")
        summaries.append(summary)
    assert summaries[0] == summaries[1]
    assert summaries[0]["fills"] > 20
    assert summaries[0]["strategies"]["grid"]["fills"] > 0 and summaries[0]["strategies"]["mr"]["fills"] > 0
    assert summaries[0]["reconciliation"]["ok"] is True
    assert summaries[0]["stop_reason"] == "backtest of 120s simulated"


async def test_sma_cross_tries_again_after_an_order_refused_at_once_in_a_backtest(tmp_path: Path) -> None:
    """Backtests run on_order inline, inside buy(): a refused order must not stay `working`."""
    text = backtest_yaml(
        """\
        - name: sma
          plugin: sma_cross
          instruments: ["sim:BTC-KRW"]
          bars: {seconds: 1, source: quotes}
          params: {fast: 2, slow: 4, qty: 0.01}
        """,
        duration=120,
        extra="risk: {max_order_value: 1}\n",  # every order is refused by risk
    )
    _, summary = await run_backtest(tmp_path, text)
    assert summary["orders"] == {"rejected": summary["orders_total"]}
    assert summary["orders_total"] > 3


async def test_a_backtest_with_a_journal_file_sets_the_earlier_runs_journal_aside(tmp_path: Path) -> None:
    journal = tmp_path / "journal" / "{name}.sqlite"
    text = backtest_yaml(
        f"""\
        - name: trader
          plugin: {HERE}:Trader
          instruments: ["sim:BTC-KRW"]
        """,
        duration=10,
    ).replace("journal: null", f'journal: "{journal}"')
    summaries = []
    for _ in range(2):
        _, summary = await run_backtest(tmp_path, text, name="journalled")
        summary.pop("wall_s")
        summaries.append(summary)
    assert summaries[1]["recovery"] == {"orders": 0, "open": 0, "fills": 0, "paper_unknown_open": 0, "paper_unresolved": 0}
    assert summaries[0] == summaries[1]
    assert summaries[1]["fills"] > 0
    assert (tmp_path / "journal" / "journalled.sqlite").exists()
    assert (tmp_path / "journal" / "journalled.sqlite.prev").exists()
