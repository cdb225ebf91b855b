"""Builds a run from a plan and drives it: venues, recovery, strategies, the clock, a clean stop."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import structlog

from engine.account.portfolio import Portfolio
from engine.account.risk import RiskEngine
from engine.app.backtest import VENUE_BARS, place_clock, run_backtest
from engine.app.config import Plan
from engine.app.shadow import Shadow, start_shadows
from engine.app.summary import build_summary
from engine.clock import Clock, RealtimeClock, SimulatedClock
from engine.data.bars import BarAggregator
from engine.data.bus import Bus
from engine.errors import ConfigError
from engine.events import Fill, Instrument, Order, Quote, Trade
from engine.ops.service import Ops, start_ops
from engine.orders.ids import ClientOrderIds
from engine.orders.journal import Journal, OrderJournal
from engine.orders.manager import OrderManager
from engine.orders.memory_journal import MemoryJournal
from engine.record.config import wanted_instruments
from engine.report.record import EquityRecorder
from engine.report.runs import start_recorder
from engine.strategy.base import Strategy, StrategyContext, StrategyHost, _overrides
from engine.venue.contract import Channel, Emulator, Venue, VenueContext

if TYPE_CHECKING:
    from engine.record.recorder import Recorder

NS = 1_000_000_000
log = structlog.get_logger("tickbus.runner")
_T = TypeVar("_T")


class Engine:
    def __init__(
        self,
        plan: Plan,
        *,
        duration_s: float | None = None,
        speed: float | None = None,
        journal_path: str | Path | None | bool = True,
        http: str | None = None,
        from_ns: int | None = None,
        to_ns: int | None = None,
        show_progress: bool = False,
    ) -> None:
        cfg = plan.config
        self.plan = plan
        self.mode = cfg.mode
        self.duration_s = duration_s if duration_s is not None else cfg.duration_s
        self.backtest = cfg.mode == "backtest"
        self.from_ns = from_ns  # a backtest's window (`run.py backtest --from/--to`)
        self.to_ns = to_ns
        self.show_progress = show_progress  # the backtest's progress line on stderr
        self.fills: list[Fill] | None = None  # every fill in order, when `record_fills()` asked
        start_ns = plan.start_ns
        self.clock: Clock
        if self.backtest:
            self.clock = SimulatedClock(start_ns if start_ns is not None else time.time_ns())
        else:
            self.clock = RealtimeClock(speed=speed or cfg.speed, start_ns=start_ns)
        self.bus = Bus(inline=self.backtest)
        if journal_path is True:
            journal_path = plan.journal_path
            if journal_path and _account_starts_fresh(plan):
                # The paper account (or an in-process emulator) lives in memory and starts fresh
                # every run, so the orders and fills of an earlier run must not be recovered into
                # this one (they would count twice in PnL, and its fill ids would shadow this
                # run's as duplicates).
                _set_aside(Path(journal_path))
        try:
            self.journal: OrderJournal = Journal(journal_path, exclusive=self.backtest) if journal_path else MemoryJournal()
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(plan.file, "journal", f"cannot open {journal_path}: {exc}") from None
        self.portfolio = Portfolio()
        self.risk = RiskEngine(cfg.risk, self.portfolio)
        self.manager = OrderManager(
            bus=self.bus, clock=self.clock, journal=self.journal, portfolio=self.portfolio,
            risk=self.risk, venues={},
        )
        if self.backtest:  # commits before every request and every 65,536 events (engine.app.backtest)
            self.manager.book.flush_each_turn = False
        self.venues: dict[str, Venue] = {}
        self.paper: Venue | None = None
        self.hosts: list[StrategyHost] = []
        self.aggregators: dict[tuple[str, int, str], BarAggregator] = {}
        self.emulators: list[Emulator] = []
        self.stop_event = asyncio.Event()
        self.started_wall = 0.0
        self.ended_wall = 0.0
        self.recovery: dict[str, int] = {}
        self.stop_reason = "finished"
        self.left_open: list[Order] = []  # orders still open at a venue after the stop's cancels
        self.controls: list[dict[str, Any]] = []  # the operator's controls (engine/ops), for the summary
        self.extension: Extension | None = None  # a part joined to the engine (the NATS bridge)
        self.shadows: dict[str, Shadow] = {}  # venue -> its paper copy (`shadow: true`)
        self.ops: Ops | None = None
        self.recorder: EquityRecorder | None = None  # the report's equity series (engine/report)
        self.market_recorder: Recorder | None = None  # `record:` / `run.py record --out DIR`
        self.recorded: list[str] = []  # the instruments the market recorder asked the venues for
        self._http = http  # `--http HOST:PORT`, over the config's http.listen

    # --- start --------------------------------------------------------------------------------

    def _context(self, name: str) -> VenueContext:
        return VenueContext(
            name=name, bus=self.bus, clock=self.clock, sink=self.manager,
            state_dir=Path(self.plan.config.state_dir), mode=self.mode, config_file=self.plan.file,
        )

    async def start(self) -> None:
        self.started_wall = time.perf_counter()
        record = self.plan.config.record
        if record is not None:  # a bad folder is the user's to fix, before anything connects
            from engine.record.recorder import Recorder  # the Parquet writer: loaded only to record

            self.market_recorder = Recorder(record, self.bus, where=f"{self.plan.file}: record.dir")
        for vp in self.plan.venues.values():
            config = vp.config
            if config.emulator:
                emulator = vp.cls.make_emulator(config, config.emulator_seed)
                if emulator is None:
                    raise ConfigError(self.plan.file, f"venues.{vp.name}.emulator", "this venue has no emulator")
                info = await emulator.start()
                self.emulators.append(emulator)
                config = vp.cls.with_emulator(config, info)
                log.info("emulator started", venue=vp.name, url=info.url)
            self.venues[vp.name] = vp.cls(self._context(vp.name), config)
        if self.plan.paper is not None:
            self.paper = self.plan.paper.cls(self._context("paper"), self.plan.paper.config)
            self.manager.venues = {"paper": self.paper}
        else:
            self.manager.venues = {n: v for n, v in self.venues.items() if v.supports_execution}
        for venue in self.venues.values():
            await venue.connect()
            for inst in await venue.instruments():
                self.portfolio.instruments[inst.id] = inst
        self._check_instruments()
        self.shadows = await start_shadows(self)
        if self.market_recorder is not None:
            self._start_recorder(self.market_recorder)
        if self.backtest:
            place_clock(self)
            # ids from simulated time, not the wall clock: the same backtest gives the same trade list
            self.manager.ids = ClientOrderIds(start_ms=self.clock.now_ns() // 1_000_000)
        if self.paper is not None:
            self.paper.register_instruments(list(self.portfolio.instruments.values()))
            await self.paper.connect()
        self.bus.subscribe(Quote, self.portfolio.on_quote, name="portfolio.marks")
        self.bus.subscribe(Trade, self.portfolio.on_trade, name="portfolio.marks")
        self.recovery = await self.manager.recover()
        for i, sp in enumerate(self.plan.strategies):
            await self._start_strategy(i, sp.cls, sp.params, sp.config)
        if not self.backtest:
            await self._subscribe_market_data()
        self.recorder = start_recorder(self)
        self.ops = await start_ops(self, self._http)

    def _start_recorder(self, recorder: Recorder) -> None:
        assert self.plan.config.record is not None
        self.recorded = wanted_instruments(self.plan.config.record, self.portfolio.instruments, self.plan.file)
        traded = {inst for sp in self.plan.strategies for inst in sp.config.instruments}
        if not self.backtest and not traded and not self.recorded:  # a backtest replays every instrument
            raise ConfigError(self.plan.file, "record.instruments", "nothing to record: no strategy trades an "
                              'instrument; name them, e.g. record: {instruments: ["venue:*"]}')
        replayed = {name: venue.replay_bar_seconds() for name, venue in self.venues.items()}
        recorder.start(type(recorder).bar_keys(sorted(traded | set(self.recorded)), replayed))

    def _check_instruments(self) -> None:
        known = self.portfolio.instruments
        for i, sp in enumerate(self.plan.strategies):
            for j, inst in enumerate(sp.config.instruments):
                if inst not in known:
                    venue = inst.partition(":")[0]
                    names = sorted(k for k in known if k.startswith(venue + ":"))
                    sample = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
                    raise ConfigError(
                        self.plan.file, f"strategies[{i}].instruments[{j}]",
                        f"unknown instrument {inst!r} (venue {venue} has: {sample or 'none'})",
                    )

    async def _start_strategy(self, index: int, cls: type[Strategy], params: Any, sc: Any) -> None:
        bar_seconds = None
        bar_source: str = sc.bars.source if sc.bars else "trades"
        if _overrides_class(cls, "on_bar"):
            replayed = self._replayed_bars(index, sc)
            if replayed is not None:  # the venue's own bars: no aggregator
                bar_seconds, bar_source = replayed, VENUE_BARS
            else:
                bar_seconds = sc.bars.seconds if sc.bars else 60
                source: Literal["trades", "quotes"] = sc.bars.source if sc.bars else "trades"
                for inst in sc.instruments:
                    key = (inst, bar_seconds, source)
                    if key not in self.aggregators:
                        agg = BarAggregator(self.bus, self.clock, inst, bar_seconds, source)
                        agg.start()
                        self.aggregators[key] = agg
        ctx = StrategyContext(
            id=sc.name,
            instruments=list(sc.instruments),
            bus=self.bus,
            clock=self.clock,
            orders=self.manager,
            portfolio=self.portfolio,
            venue_for=self.venue_for,
            bar_interval_s=bar_seconds,
            bar_source=bar_source,
            log=structlog.get_logger("tickbus.strategy").bind(strategy=sc.name),
            market_open=self.market_open,
        )
        try:
            strategy = cls(ctx, params)
        except Exception as exc:  # the user's code: one line naming it, not a traceback
            raise ConfigError(self.plan.file, f"strategies[{index}]", f"{cls.__name__} failed to start: {exc!r}") from None
        host = StrategyHost(
            strategy, max_errors=sc.max_errors, error_window_s=sc.error_window_s, queue_size=sc.queue_size
        )
        self.hosts.append(host)
        await host.start()

    def _replayed_bars(self, index: int, sc: Any) -> int | None:
        """The bar length the strategy's venues replay themselves (historical bars), or None."""
        lengths = {self.venues[i.partition(":")[0]].replay_bar_seconds() for i in sc.instruments}
        if lengths == {None}:
            return None
        if len(lengths) > 1:
            raise ConfigError(self.plan.file, f"strategies[{index}].instruments",
                              "mixes venues that replay bars of different lengths (or bars and ticks)")
        (seconds,) = lengths
        assert seconds is not None
        if sc.bars is not None and sc.bars.seconds != seconds:
            raise ConfigError(self.plan.file, f"strategies[{index}].bars.seconds",
                              f"its venue replays {seconds}-second bars; leave bars out or give seconds: {seconds}")
        return seconds

    def market_open(self, instrument: str) -> bool:
        """Whether `instrument`'s market is open now: the executing venue says, else the data's
        venue; a venue that does not know counts as open."""
        inst: Instrument = self.portfolio.instruments[instrument]
        now = self.clock.now_ns()
        for venue in (self.manager.venues.get(self.venue_for(instrument)), self.venues.get(inst.venue)):
            if venue is not None and (answer := venue.market_is_open(inst, now)) is not None:
                return answer
        return True

    def record_fills(self) -> list[Fill]:
        """Keep every fill of this run, in order (a backtest's trade list)."""
        if self.fills is None:
            fills: list[Fill] = []
            self.bus.subscribe(Fill, fills.append, name="engine.fills")
            self.fills = fills
        return self.fills

    def venue_for(self, instrument: str) -> str:
        """Where orders for `instrument` go: the paper broker in paper runs, else its own venue,
        or the venue `route:` names for it (market data from one venue, orders on another)."""
        if self.paper is not None:
            return "paper"
        venue = instrument.partition(":")[0]
        return self.plan.config.route.get(venue, venue)

    async def _subscribe_market_data(self) -> None:
        wanted: dict[str, set[str]] = {}
        channels: dict[str, set[Channel]] = {}
        for host in self.hosts:
            s = host.strategy
            for inst in s.instruments:
                venue = inst.partition(":")[0]
                wanted.setdefault(venue, set()).add(inst)
                ch = channels.setdefault(venue, {Channel.QUOTES, Channel.TRADES})
                if _overrides(s, "on_book"):
                    ch.add(Channel.BOOK)
        for inst in self.recorded:
            venue = inst.partition(":")[0]
            wanted.setdefault(venue, set()).add(inst)
            channels.setdefault(venue, {Channel.QUOTES, Channel.TRADES})
        for venue, instruments in wanted.items():
            await self.venues[venue].subscribe(sorted(instruments), sorted(channels[venue]))

    # --- run ----------------------------------------------------------------------------------

    async def run(self) -> None:
        progress = None
        if self.plan.config.progress_s > 0 and not self.backtest:
            progress = asyncio.get_running_loop().create_task(self._progress())
        try:
            if self.backtest:
                await run_backtest(self)
            else:
                try:
                    await asyncio.wait_for(self.stop_event.wait(), timeout=self.duration_s)
                except TimeoutError:
                    self.stop_reason = f"duration of {self.duration_s:g}s reached"
        finally:
            if progress is not None:
                progress.cancel()

    def request_stop(self, reason: str) -> None:
        self.stop_reason = reason
        self.stop_event.set()

    async def _progress(self) -> None:
        interval = self.plan.config.progress_s
        while True:
            await asyncio.sleep(interval)
            pnl = self.portfolio.pnl()
            log.info(
                "progress",
                events=self.bus.stats.published,
                open_orders=self.manager.open_count,
                fills=self.manager.stats.fills,
                pnl=str(round(pnl.net, 2)),
            )

    async def _with_clock(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Await `coro`; in a backtest, move the simulated clock from timer to timer meanwhile
        (after the data ends nothing else moves it, and requests wait on it for their latency)."""
        clock = self.clock
        if not isinstance(clock, SimulatedClock):
            return await coro
        task = asyncio.ensure_future(coro)
        for _ in range(100_000):
            await self._let_orders_run()
            if task.done():
                break
            due = clock.next_timer_ns
            if due is None:
                await asyncio.sleep(0)
                continue
            clock.advance_to(due)
            if self.bus.has_pending:
                await self.bus.settle()
        return await task

    async def _let_orders_run(self) -> None:
        """Backtests: give order requests a few loop turns; ones waiting on the clock wait on."""
        for _ in range(8):
            await asyncio.sleep(0)
            if not self.manager.busy:
                return

    # --- stop ---------------------------------------------------------------------------------

    async def stop(self) -> None:
        """Stop strategies, cancel (if asked), close venues and emulators; the journal is closed
        last whatever fails before it, so nothing it holds is lost."""
        try:
            if self.recorder is not None:
                self.recorder.pause()
            if self.ops is not None:
                await self.ops.stop()
            for host in self.hosts:  # no new events for any strategy while each drains what it has
                host.queue.unsubscribe()
            for host in self.hosts:
                await host.stop()
            if self.plan.config.cancel_on_stop and self.manager.open_count:
                await self._cancel_at_stop()
            try:
                await asyncio.wait_for(self._with_clock(self.manager.settle()), timeout=10)
            except TimeoutError:
                log.error("requests still in flight at stop")
            if self.plan.config.cancel_on_stop:
                self._name_left_open()
            await self._read_balances()
            for shadow in self.shadows.values():
                await shadow.close()
            for agg in self.aggregators.values():
                agg.stop()
            closing: list[Venue[Any] | Emulator] = [*self.venues.values(), *([self.paper] if self.paper else []), *self.emulators]
            for part in closing:  # each closes whatever the others did
                try:
                    await (part.close() if isinstance(part, Venue) else part.stop())
                except Exception as exc:
                    log.error("close failed", part=getattr(part, "name", type(part).__name__), error=repr(exc))
        finally:
            try:
                if self.recorder is not None:
                    self.recorder.finish()
                if self.market_recorder is not None:  # after the venues: everything they fed is written
                    await self.market_recorder.stop()
            finally:
                self.journal.close()
            self.ended_wall = time.perf_counter()

    async def _cancel_at_stop(self) -> None:
        """Cancel every open order, round after round while rounds make progress.

        The time this takes follows from the venues' rate limits (each cancel waits its turn), not
        from a constant: it ends when nothing is open, after `_STOP_ROUNDS_WITHOUT_PROGRESS` rounds
        that cancelled nothing (a venue refusing them), or after `_STOP_CAP_S` whatever happens.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _STOP_CAP_S
        stalled = rounds = 0
        while self.manager.open_count and stalled < _STOP_ROUNDS_WITHOUT_PROGRESS:
            before = self.manager.open_count
            rounds += 1
            try:
                await asyncio.wait_for(self._with_clock(self.manager.cancel_all()), timeout=max(deadline - loop.time(), 0.0))
            except TimeoutError:
                log.error("cancel-all at stop ran out of time", open_orders=self.manager.open_count, cap_s=_STOP_CAP_S)
                break
            stalled = stalled + 1 if self.manager.open_count >= before else 0
            if self.manager.open_count and stalled:
                await asyncio.sleep(_STOP_ROUND_PAUSE_S)  # a refusal (a 429, a busy venue): again after a pause
        log.info("open orders cancelled at stop", rounds=rounds, still_open=self.manager.open_count)

    def _name_left_open(self) -> None:
        """Each order the stop's cancels did not end: logged, kept for the summary, and alerted."""
        self.left_open = self.manager.open_orders()
        named = []
        for order in self.left_open:
            log.error("order left open at the venue after the stop", client_order_id=order.client_order_id,
                      venue=order.venue, venue_order_id=order.venue_order_id, instrument=order.instrument)
            named.append({"client_order_id": order.client_order_id, "venue": order.venue,
                          "venue_order_id": order.venue_order_id, "instrument": order.instrument})
        alerter = self.ops.alerter if self.ops is not None else None
        if named and alerter is not None:
            alerter.notify("orders_left_open", {"orders": named})

    async def _read_balances(self) -> None:
        """The venues' balances after the last action (the stop's cancels free what they held)."""
        for venue in self.venues.values():
            if not venue.supports_execution:
                continue
            try:
                for balance in await asyncio.wait_for(venue.balances(), timeout=10):
                    self.manager.on_balance(balance)
            except Exception as exc:  # noqa: BLE001 - a venue error or the timeout: the summary keeps the last known
                log.warning("balances not read at stop", venue=venue.name, error=str(exc) or repr(exc))

    def summary(self) -> dict[str, Any]:
        return build_summary(self)


_STOP_CAP_S = 600.0  # a stop always ends; within it, the venues' rate limits set the pace
_STOP_ROUNDS_WITHOUT_PROGRESS = 3
_STOP_ROUND_PAUSE_S = 1.0


def _account_starts_fresh(plan: Plan) -> bool:
    """Paper and backtest runs, and live runs whose every executing venue is an emulator."""
    if plan.paper is not None:
        return True
    executing = [vp for vp in plan.venues.values() if vp.cls.supports_execution]
    return bool(executing) and all(vp.config.emulator for vp in executing)


def _set_aside(path: Path) -> None:
    """Move an earlier run's journal (and its SQLite side files) to `<name>.prev`."""
    if not path.exists():
        return
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{path}{suffix}")
        dst = Path(f"{path}.prev{suffix}")
        if src.exists():
            src.replace(dst)
        elif dst.exists():
            dst.unlink()
    log.info("earlier journal set aside: this run's account starts fresh", path=str(path), moved_to=f"{path}.prev")


def _overrides_class(cls: type[Strategy], name: str) -> bool:
    return getattr(cls, name) is not getattr(Strategy, name)


class Extension(Protocol):
    """A part joined to a running engine (the NATS bridge of `--role core`)."""

    async def start(self, engine: Engine) -> None: ...

    async def stop(self) -> None: ...

    def summary(self) -> dict[str, Any]: ...

    def status(self) -> dict[str, Any]:
        """Its state now, for the status page and the metrics."""
        ...
