"""One plan run from start to summary: the engine started (and an extension, such as the NATS
bridge, after it), run to its end (duration, signal or the backtest's data), stopped, reported."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import structlog

from engine.app.config import Plan
from engine.app.runner import Engine, Extension
from engine.app.summary import write_trades
from engine.report.runs import finish_report

log = structlog.get_logger("tickbus.runner")


async def run_plan(
    plan: Plan,
    *,
    duration_s: float | None = None,
    speed: float | None = None,
    handle_signals: bool = True,
    http: str | None = None,
    from_ns: int | None = None,
    to_ns: int | None = None,
    show_progress: bool = False,
    trades: str | Path | None = None,
    extension: Extension | None = None,
) -> dict[str, Any]:
    """Run one plan to its end (duration, signal or backtest data) and return the summary;
    `trades`: also write every fill there as CSV; an `extension` starts after the engine and
    stops after it."""
    engine = Engine(plan, duration_s=duration_s, speed=speed, http=http, from_ns=from_ns, to_ns=to_ns,
                    show_progress=show_progress)
    if trades is not None:
        engine.record_fills()
    engine.extension = extension
    loop = asyncio.get_running_loop()
    if handle_signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, engine.request_stop, f"signal {sig.name}")
            except (NotImplementedError, RuntimeError):
                pass
    try:
        try:
            await engine.start()
            if extension is not None:
                await extension.start(engine)
        except BaseException:
            if extension is not None:
                await extension.stop()
            await _abandon(engine)
            raise
        log.info("running", plan=plan.name, mode=engine.mode, duration_s=engine.duration_s)
        try:
            await engine.run()
        except Exception:
            # Still close venues, emulators and the journal; the error is what the user sees.
            try:
                await asyncio.wait_for(engine.stop(), timeout=30)
            except Exception as exc:
                log.error("stop after a failed run failed too", error=repr(exc))
            if extension is not None:
                await extension.stop()
            if engine.ops is not None:
                await engine.ops.finish(None)
            raise
    finally:
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.remove_signal_handler(sig)
                except (NotImplementedError, RuntimeError):
                    pass
    await engine.stop()
    summary = engine.summary()
    if engine.market_recorder is not None:
        summary["record"] = engine.market_recorder.summary()
    if trades is not None and engine.fills is not None:
        write_trades(engine.fills, Path(trades))
    if extension is not None:
        await extension.stop()
        summary["bridge"] = extension.summary()
    finish_report(engine, summary)
    if engine.ops is not None:
        await engine.ops.finish(summary)
    return summary


async def _abandon(engine: Engine) -> None:
    """A failed start: close whatever opened, keep the journal intact."""
    if engine.recorder is not None:
        engine.recorder.pause()
    for venue in [*engine.venues.values(), *([engine.paper] if engine.paper else [])]:
        try:
            await venue.close()
        except Exception:
            pass
    for emulator in engine.emulators:
        try:
            await emulator.stop()
        except Exception:
            pass
    if engine.market_recorder is not None:
        try:
            await engine.market_recorder.stop()
        except Exception:
            pass
    engine.journal.close()
