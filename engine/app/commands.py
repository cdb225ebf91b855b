"""What `run.py` does for each command: run, check, strategies, emulate. One-line errors, exit 2."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import msgspec
import structlog

from engine.app.config import Plan, load_config
from engine.app.plugins import STRATEGY_GROUP, VENUE_GROUP, available, load_venue
from engine.app.runner import run_plan
from engine.app.summary import render
from engine.errors import UserError, VenueError
from engine.log import REDACTED, configure, is_secret_key, scrub

log = structlog.get_logger("tickbus.cli")


def run_loop(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run `main()` on uvloop where the platform has it, else asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())
    return uvloop.run(main())


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


def cmd_run(config: str, *, duration: float | None, speed: float | None, log_format: str) -> int:
    if duration is not None and not duration >= 0:
        raise UserError(f"--duration: must be zero or more seconds, got {duration:g}")
    if speed is not None and not speed > 0:
        raise UserError(f"--speed: must be positive, got {speed:g}")
    plan = load_config(config)
    summary = run_loop(lambda: run_plan(plan, duration_s=duration, speed=speed))
    if log_format == "json":
        print(json.dumps(summary))
    else:
        print(render(summary))
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


def cmd_emulate(venue: str, *, port: int, seed: int) -> int:
    cls = load_venue(venue)
    emulator = cls.make_emulator(cls.Config(), seed)
    if emulator is None:
        raise UserError(f"venue {venue!r} has no emulator")

    async def serve() -> None:
        info = await emulator.start(port=port)
        print(json.dumps(info.as_json()), flush=True)
        log.info("emulator serving", venue=info.venue, url=info.url)
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


def setup_logging(fmt: str, level: str) -> None:
    try:
        configure(fmt, level)
    except ValueError as exc:
        raise UserError(str(exc)) from None


DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "paper_sma.yaml"
