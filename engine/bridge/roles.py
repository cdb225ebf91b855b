"""What `run.py CONFIG --role core|strategies [--only ...]` runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Coroutine
from typing import Any

from engine.app.config import Plan
from engine.bridge.config import NatsConfig
from engine.bridge.core import CoreBridge
from engine.bridge.host import StrategiesProcess
from engine.errors import ConfigError, UserError

ROLES = ("core", "strategies")


def nats_config(plan: Plan) -> NatsConfig:
    bus = plan.config.bus
    if bus is None or bus.nats is None:
        raise ConfigError(plan.file, "bus.nats", "--role needs a bus: {nats: {url: ..., stream: ...}} block")
    return bus.nats


def parse_only(plan: Plan, only: str | None) -> list[str] | None:
    if only is None:
        return None
    names = [n.strip() for n in only.split(",") if n.strip()]
    known = [sp.config.name for sp in plan.strategies]
    for name in names:
        if name not in known:
            raise UserError(f"--only: no strategy {name!r} in {plan.file} (configured: {', '.join(known) or 'none'})")
    if not names:
        raise UserError("--only: give one or more strategy names, comma-separated")
    return names


def core_plan(plan: Plan) -> tuple[Plan, CoreBridge]:
    """The engine's plan without strategies (they run elsewhere) and the bridge to join it to."""
    from engine.app.runner import _account_starts_fresh

    bridge = CoreBridge(plan, nats_config(plan), fresh=_account_starts_fresh(plan))
    return dataclasses.replace(plan, strategies=[]), bridge


async def run_strategies(plan: Plan, only: list[str] | None, duration_s: float | None) -> dict[str, Any]:
    return await StrategiesProcess(plan, nats_config(plan), only, duration_s).run()


def run_role(plan: Plan, role: str | None, only: str | None, *, duration: float | None, speed: float | None,
             http: str | None, loop: Callable[[Callable[[], Coroutine[Any, Any, Any]]], Any]) -> dict[str, Any]:
    """`--role core`: the engine and the bridge; `--role strategies`: the strategy hosts."""
    from engine.app.session import run_plan

    if role is None:
        raise UserError("--only: goes with --role strategies")
    names = parse_only(plan, only)
    if role == "core":
        if names is not None:
            raise UserError("--only: goes with --role strategies, not core")
        engine_plan, bridge = core_plan(plan)
        return loop(lambda: run_plan(engine_plan, duration_s=duration, speed=speed, http=http, extension=bridge))
    nats_config(plan)
    return loop(lambda: run_strategies(plan, names, duration))
