"""What `run.py` does for each command: run, backtest, record, download, check, strategies,
emulate. One-line errors, exit 2."""

from __future__ import annotations

import asyncio
import json
import math
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import structlog

from engine.app.config import Plan, load_config
from engine.app.plugins import STRATEGY_GROUP, VENUE_GROUP, available, load_venue
from engine.app.session import run_plan
from engine.app.summary import render
from engine.errors import ConfigError, UserError, VenueError
from engine.log import REDACTED, configure, is_secret_key, scrub
from engine.ops.config import parse_listen
from engine.record.config import RecordConfig, prepare_dir
from engine.venue.contract import EmulatorInfo, Venue

log = structlog.get_logger("tickbus.cli")


def run_loop(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run `main()` on uvloop where the platform has it, else asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())
    return uvloop.run(main())


STRATEGY_FAILED = 3  # a run in which a strategy was stopped by its error policy


def guarded(fn: Callable[[], int]) -> int:
    """A user's mistake is one line on stderr and exit 2; a venue refusing us is one line, exit 1."""
    try:
        return fn()
    except UserError as exc:
        print(str(exc), file=sys.stderr)
        return exc.exit_code
    except VenueError as exc:
        print(f"venue error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`run.py strategies | head`): end quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def cmd_run(
    config: str | Plan, *, duration: float | None, speed: float | None, log_format: str, http: str | None = None,
    role: str | None = None, only: str | None = None,
) -> int:
    if duration is not None and not duration >= 0:
        raise UserError(f"--duration: must be zero or more seconds, got {duration:g}")
    if speed is not None and not speed > 0:
        raise UserError(f"--speed: must be positive, got {speed:g}")
    if http is not None:
        try:
            parse_listen(http)
        except ValueError as exc:
            raise UserError(f"--http: {exc}") from None
    plan = load_config(config) if isinstance(config, str) else config
    if role is not None or only is not None:  # the split over NATS (engine/bridge)
        from engine.bridge.roles import run_role

        summary = run_role(plan, role, only, duration=duration, speed=speed, http=http, loop=run_loop)
    else:
        summary = run_loop(lambda: run_plan(plan, duration_s=duration, speed=speed, http=http))
    if log_format == "json":
        print(json.dumps(summary))
    else:
        print(render(summary))
    failed = [sid for sid, s in summary["strategies"].items() if s["failed"]]
    if failed:
        print(f"exit code {STRATEGY_FAILED}: stopped by its error policy: {', '.join(failed)}", file=sys.stderr)
        return STRATEGY_FAILED
    return 0


def cmd_record(
    config: str, *, out: str | None, duration: float | None, speed: float | None, log_format: str,
    flush_s: float | None = None, http: str | None = None,
) -> int:
    """A config run as `run` runs it, its venues' market data recorded under `--out` (else its
    `record.dir`) in the historical venue's layout."""
    if flush_s is not None and not flush_s > 0:
        raise UserError(f"--flush-s: must be positive, got {flush_s:g}")
    plan = load_config(config)
    record = plan.config.record
    if out is None and record is None:
        raise UserError(f"record: give --out DIR (or a record: {{dir: ...}} block in {config})")
    if out is not None:
        prepare_dir(out, "--out")
        record = RecordConfig(dir=out) if record is None else msgspec.structs.replace(record, dir=out)
    assert record is not None
    if flush_s is not None:
        record = msgspec.structs.replace(record, flush_s=flush_s)
    plan.config = msgspec.structs.replace(plan.config, record=record)
    return cmd_run(plan, duration=duration, speed=speed, log_format=log_format, http=http)


def cmd_download(
    venue: str, *, symbol: str, interval: str, start: str | None, end: str | None, out: str, config: str | None,
    emulator: bool, seed: int | None, log_format: str,
) -> int:
    """A venue's historical candles -> bars files a historical venue replays."""
    from engine.record.download import download, parse_interval

    interval_s = parse_interval(interval)
    from_ns, to_ns = parse_ns(start, "--from"), parse_ns(end, "--to")
    if from_ns is None or to_ns is None:
        raise UserError("download: give --from and --to (ISO-8601 with offset, e.g. 2026-12-07T09:15:00+05:30)")
    if to_ns < from_ns:
        raise UserError("--to: before --from")
    if config is not None:
        plan = load_config(config)
        if venue not in plan.venues:
            raise ConfigError(config, "venues", f"no venue {venue!r} (configured: {', '.join(sorted(plan.venues)) or 'none'})")
        cls, block, state_dir = plan.venues[venue].cls, plan.venues[venue].config, Path(plan.config.state_dir)
    else:
        cls, state_dir = load_venue(venue), Path("var")
        block = cls.Config()
    if seed is not None:
        block = msgspec.structs.replace(block, emulator_seed=seed)
    folder = prepare_dir(out, "--out")
    done = run_loop(lambda: download(cls, block, name=venue, symbol=symbol, interval_s=interval_s, start_ns=from_ns,
                                     end_ns=to_ns, out=folder, emulator=emulator or block.emulator, state_dir=state_dir))
    if log_format == "json":
        print(json.dumps(done))
    else:
        print(f"{done['bars']} bars of {done['instrument']} ({interval_s}s) written to {len(done['files'])} file(s) "
              f"under {done['path']}")
        print(f"replay them: a venue block with type: historical, kind: bars, bar_seconds: {interval_s}, "
              f"path: {done['path']}")
    return 0


def cmd_check(config: str) -> int:
    plan = load_config(config)
    print(json.dumps(describe(plan), indent=2, default=str))
    return 0


def describe(plan: Plan) -> dict[str, Any]:
    """The resolved plan, secrets masked."""
    cfg = plan.config
    return {
        "file": plan.file,
        "name": plan.name,
        "mode": cfg.mode,
        "duration_s": cfg.duration_s,
        "speed": cfg.speed,
        "start": cfg.start,
        "journal": plan.journal_path,
        "route": cfg.route,
        "venues": {
            name: {"class": f"{vp.cls.__module__}:{vp.cls.__qualname__}", "config": _masked(msgspec.to_builtins(vp.config))}
            for name, vp in plan.venues.items()
        },
        "paper": None if plan.paper is None else _masked(msgspec.to_builtins(plan.paper.config)),
        "strategies": [
            {
                "name": sp.config.name,
                "class": f"{sp.cls.__module__}:{sp.cls.__qualname__}",
                "instruments": sp.config.instruments,
                "params": msgspec.to_builtins(sp.params),
                "bars": msgspec.to_builtins(sp.config.bars),
            }
            for sp in plan.strategies
        ],
        "risk": msgspec.to_builtins(cfg.risk),
    }


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if is_secret_key(k) and v else _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return scrub(value)


def cmd_strategies() -> int:
    for group, title in ((STRATEGY_GROUP, "strategies"), (VENUE_GROUP, "venues")):
        print(f"{title}:")
        for name, target in sorted(available(group).items()):
            print(f"  {name:<16} {target}")
    return 0


def parse_start(text: str | None, flag: str = "--start") -> datetime | None:
    """`--start`: an ISO-8601 time with its offset (2026-12-07T10:00:00+05:30); a naive one is refused."""
    if text is None:
        return None
    try:
        start = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(f"{flag}: not an ISO-8601 time: {text!r} (e.g. 2026-12-07T10:00:00+05:30)") from None
    if start.tzinfo is None or start.utcoffset() is None:
        raise UserError(f"{flag}: give the time with its offset, e.g. {text}+05:30 or {text}Z")
    return start


def parse_ns(text: str | None, flag: str) -> int | None:
    """An ISO-8601 time with its offset as integer nanoseconds since the epoch."""
    at = parse_start(text, flag)
    if at is None:
        return None
    return int(at.timestamp()) * 1_000_000_000 + at.microsecond * 1000


def cmd_backtest(
    config: str, *, start: str | None, end: str | None, duration: float | None, log_format: str,
    trades: str | None = None,
) -> int:
    """A config replayed on the simulated clock: `mode: backtest`, or a paper config run as one."""
    from_ns, to_ns = parse_ns(start, "--from"), parse_ns(end, "--to")
    if from_ns is not None and to_ns is not None and to_ns < from_ns:
        raise UserError("--to: before --from")
    if duration is not None and not duration >= 0:
        raise UserError(f"--duration: must be zero or more seconds, got {duration:g}")
    plan = load_config(config)
    if plan.config.mode == "live":
        raise UserError(f"{config}: mode: live cannot be backtested (its orders go to a venue); use mode: backtest")
    plan.config = msgspec.structs.replace(plan.config, mode="backtest")
    summary = run_loop(lambda: run_plan(
        plan, duration_s=duration, from_ns=from_ns, to_ns=to_ns, show_progress=sys.stderr.isatty(), trades=trades,
    ))
    print(json.dumps(summary) if log_format == "json" else render(summary))
    return 0


def cmd_sweep(config: str, params: list[str], *, metric: str, out: str, jobs: int | None, sample: int | None,
              seed: int, split: float | None, start: str | None, end: str | None) -> int:
    """`run.py sweep`: backtests of every combination across the cores, ranked (engine/app/sweep.py)."""
    from engine.app.sweep import Sweep

    load_config(config)  # the config's own mistakes first, as one line
    sweep = Sweep(config, params, metric=metric, out=out, jobs=jobs, sample=sample, seed=seed, split=split,
                  start=start, end=end)
    trials = sweep.run()
    names = [path for path, _ in sweep.grid]
    for rank, t in enumerate(trials[:10], 1):
        shown = ", ".join(f"{n.rsplit('.', 1)[-1]}={t.values[n]}" for n in names)
        figure = t.error or f"net {t.figures['net']}, fills {t.figures['fills']}" + (
            f"; out of sample net {t.out_of_sample['net']}" if t.out_of_sample else "")
        print(f"{rank:>3}. {shown}: {figure}")
    print(f"{len(trials)} backtests; the table: {Path(out) / 'sweep.csv'}, {Path(out) / 'sweep.html'}")
    return 0 if any(t.error is None for t in trials) else 1


def parse_speed(text: str | float | None) -> float:
    """`--speed`: how many emulated seconds to each wall second, a finite number above zero."""
    if text is None:
        return 1.0
    try:
        speed = float(text)
    except ValueError:
        raise UserError(f"--speed: not a number: {text!r}") from None
    if not (speed > 0 and math.isfinite(speed)):
        raise UserError(f"--speed: must be positive, got {text}")
    return speed


FAULT_KNOBS = ("latency_ms", "error_rate", "error_status", "burst_5xx", "burst_status", "ws_drop_after", "lose_write_responses")


def parse_faults(text: str | None) -> dict[str, float | int]:
    """`--faults burst_5xx=3,error_rate=0.1`: the emulator's fault knobs, checked."""
    knobs: dict[str, float | int] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, sep, value = (x.strip() for x in part.partition("="))
        if not sep or name not in FAULT_KNOBS:
            raise UserError(f"--faults: {part.strip()!r}: expected KNOB=NUMBER, knobs: {', '.join(FAULT_KNOBS)}")
        try:
            number = float(value) if name in ("latency_ms", "error_rate") else int(value)
        except ValueError:
            raise UserError(f"--faults: {name}: not a number: {value!r}") from None
        if not math.isfinite(number) or number < 0 or (name == "error_rate" and number > 1):
            raise UserError(f"--faults: {name}: out of range: {value}")
        knobs[name] = number
    return knobs


def venue_block(cls: type[Venue[Any]], info: EmulatorInfo) -> dict[str, Any]:
    """The venue block a config needs to use this emulator (every URL and the demo credentials)."""
    default = cls.Config()
    pointed = msgspec.to_builtins(cls.with_emulator(default, info))
    plain = msgspec.to_builtins(default)
    return {"type": info.venue, **{k: v for k, v in pointed.items() if plain.get(k) != v}}


def cmd_emulate(
    venue: str, *, port: int, seed: int, start: str | None = None, speed: str | float | None = None,
    faults: str | None = None,
) -> int:
    start_at = parse_start(start)
    rate = parse_speed(speed)
    knobs = parse_faults(faults)
    cls = load_venue(venue)
    config = cls.Config() if start_at is None else msgspec.structs.replace(cls.Config(), emulator_start=start_at)
    emulator = cls.make_emulator(config, seed)
    if emulator is None:
        raise UserError(f"venue {venue!r} has no emulator")
    injector = getattr(emulator, "faults", None)
    if knobs and injector is None:
        raise UserError(f"--faults: the {venue} emulator has no fault knobs")
    for name, number in knobs.items():
        setattr(injector, name, number)
    clock = getattr(emulator, "clock", None)
    if rate != 1:
        if clock is None or not hasattr(clock, "run_at"):
            raise UserError(f"--speed: the {venue} emulator's clock cannot run at another speed")
        clock.run_at(rate)

    async def serve() -> None:
        info = await emulator.start(port=port)
        at = start_at
        if at is None and clock is not None:
            at = datetime.fromtimestamp(clock.now_ns() / 1e9, UTC)
        contract = {
            **info.as_json(), "start": None if at is None else at.isoformat(), "speed": rate, "faults": knobs,
            "venue_block": venue_block(cls, info),
        }
        print(json.dumps(contract), flush=True)
        log.info("emulator serving", venue=info.venue, url=info.url, start=contract["start"], speed=rate)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        import signal

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await emulator.stop()

    run_loop(serve)
    return 0


def cmd_login(venue: str, config: str) -> int:
    """`run.py login VENUE CONFIG`: the venue's interactive login for the block of CONFIG named (or of
    type) VENUE; the session it stores is what later runs of CONFIG use."""
    plan = load_config(config)
    cls = load_venue(venue)
    blocks = [vp for vp in plan.venues.values() if vp.name == venue] or [vp for vp in plan.venues.values() if vp.cls is cls]
    if len(blocks) != 1:
        names = ", ".join(sorted(plan.venues)) or "none"
        raise UserError(f"{config}: {'no' if not blocks else 'more than one'} venue block for {venue} (venues: {names})")
    block = blocks[0]
    if block.config.emulator:
        raise UserError(f"{config}: venues.{block.name} runs on its emulator (emulator: true), which needs no login")

    def say(line: str) -> None:
        print(line, flush=True)

    run_loop(lambda: block.cls.login(block.config, state_dir=Path(plan.config.state_dir), config_file=plan.file, say=say))
    return 0


def setup_logging(fmt: str, level: str) -> None:
    try:
        configure(fmt, level)
    except ValueError as exc:
        raise UserError(str(exc)) from None


DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "paper_sma.yaml"
