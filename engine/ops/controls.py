"""The operator's controls: pause and resume a strategy, cancel its orders, flatten a position,
cancel all, the kill switch. Each is logged at info and recorded in `engine.controls` (the run
summary's "controls"): the journal records order events only."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import structlog

from engine.events import OrderType, Side, TimeInForce
from engine.strategy.base import StrategyHost

if TYPE_CHECKING:
    from engine.app.runner import Engine

log = structlog.get_logger("tickbus.ops")


class ControlError(Exception):
    """A control that cannot be carried out: `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Controls:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def host(self, strategy_id: str) -> StrategyHost:
        for host in self.engine.hosts:
            if host.strategy.id == strategy_id:
                return host
        known = ", ".join(h.strategy.id for h in self.engine.hosts) or "none"
        raise ControlError(404, f"no strategy {strategy_id!r} (running: {known})")

    def record(self, action: str, target: str | None, result: dict[str, Any], by: str) -> dict[str, Any]:
        entry = {"ts": time.time(), "engine_ts_ns": self.engine.clock.now_ns(), "action": action,
                 "target": target, "by": by, **result}
        self.engine.controls.append(entry)
        log.info("control", **{k: v for k, v in entry.items() if k not in ("ts", "engine_ts_ns")})
        return entry

    def pause(self, strategy_id: str, by: str = "http") -> dict[str, Any]:
        host = self.host(strategy_id)
        host.pause(f"paused by the operator ({by})")
        return self.record("pause", strategy_id, {"state": "paused"}, by)

    def resume(self, strategy_id: str, by: str = "http") -> dict[str, Any]:
        host = self.host(strategy_id)
        host.resume()
        return self.record("resume", strategy_id, {"state": "running"}, by)

    def cancel(self, strategy_id: str, by: str = "http") -> dict[str, Any]:
        self.host(strategy_id)
        manager = self.engine.manager
        orders = manager.open_orders(strategy_id=strategy_id)
        for order in orders:
            manager.cancel(order.client_order_id)
        return self.record("cancel", strategy_id, {"cancelling": len(orders)}, by)

    def cancel_all(self, by: str = "http") -> dict[str, Any]:
        manager = self.engine.manager
        orders = manager.open_orders()
        for order in orders:
            manager.cancel(order.client_order_id)
        return self.record("cancel_all", None, {"cancelling": len(orders)}, by)

    def flatten(self, strategy_id: str, instrument: str | None = None, by: str = "http") -> dict[str, Any]:
        """A market order for the opposite of the strategy's position (each instrument, or one)."""
        host = self.host(strategy_id)
        instruments = [instrument] if instrument else list(host.strategy.instruments)
        pf = self.engine.portfolio
        sent = []
        for inst in instruments:
            if inst not in pf.instruments:
                raise ControlError(404, f"unknown instrument {inst!r}")
            qty = pf.position(inst, strategy_id).qty
            if qty == 0:
                continue
            spot = pf.instruments[inst].kind == "spot"
            order = self.engine.manager.submit(
                strategy_id=strategy_id, instrument=inst, venue=self.engine.venue_for(inst),
                side=Side.SELL if qty > 0 else Side.BUY, qty=abs(qty), type=OrderType.MARKET,
                tif=TimeInForce.GTC if spot else TimeInForce.DAY,
            )
            sent.append({"instrument": inst, "client_order_id": order.client_order_id, "side": order.side.value,
                         "qty": str(order.qty), "status": order.status.value, "reason": order.reason})
        return self.record("flatten", strategy_id, {"orders": sent}, by)

    def kill(self, on: bool, reason: str | None = None, by: str = "http") -> dict[str, Any]:
        risk = self.engine.risk
        if on:
            risk.halt(reason or f"kill switch by the operator ({by})")
        else:
            risk.resume()
        return self.record("kill_switch", None, {"on": on, "reason": risk.halted}, by)
