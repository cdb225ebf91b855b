"""The status document: what `GET /api/status` returns and the page shows, built from the engine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from engine.events import Order

if TYPE_CHECKING:
    from engine.app.runner import Engine
    from engine.ops.state import OpsState
    from engine.strategy.base import StrategyHost

MAX_ORDERS_SHOWN = 200


def strategy_state(host: StrategyHost) -> str:
    if host.stopped_reason is not None:
        return "stopped"
    return "paused" if host.paused is not None else "running"


def build_status(engine: Engine, state: OpsState) -> dict[str, Any]:
    pf = engine.portfolio
    manager = engine.manager
    total = pf.pnl()
    open_orders = manager.open_orders()
    return {
        "run": engine.plan.name,
        "mode": engine.mode,
        "now_ns": engine.clock.now_ns(),
        "stopping": engine.stop_event.is_set(),
        "strategies": [_strategy(engine, host) for host in engine.hosts],
        "positions": [
            {"strategy": p.strategy_id, "instrument": p.instrument, "qty": p.qty, "avg_price": p.avg_price,
             "realized": p.realized_pnl, "mark": pf.mark(p.instrument)}
            for sid in pf.strategies() for p in pf.positions(sid) if p.qty != 0
        ],
        "open_orders": [_order(o) for o in open_orders[:MAX_ORDERS_SHOWN]],
        "open_orders_total": len(open_orders),
        "fills": [
            {"ts_ns": f.ts_event, "strategy": f.strategy_id, "instrument": f.instrument, "side": f.side.value,
             "qty": f.qty, "price": f.price, "fee": f.fee, "venue": f.venue}
            for f in reversed(state.fills)
        ],
        "fills_total": manager.stats.fills,
        "orders": dict(sorted(manager.book.counts_by_status().items())),
        "pnl": {"realized": total.realized, "unrealized": total.unrealized, "fees": total.fees, "net": total.net},
        "pnl_history": [[ts // 1_000_000, net] for ts, net in state.pnl_history],
        "feeds": _feeds(engine, state),
        "risk": {"kill_switch": engine.risk.halted, "limits": msgspec.to_builtins(engine.risk.limits)},
        "bus": engine.bus.stats.as_dict(),
        "controls": list(engine.controls),
        "bridge": engine.extension.status() if engine.extension is not None else None,
    }


def _strategy(engine: Engine, host: StrategyHost) -> dict[str, Any]:
    s = host.strategy
    pnl = engine.portfolio.pnl(s.id)
    return {
        "id": s.id,
        "class": type(s).__name__,
        "instruments": list(s.instruments),
        "state": strategy_state(host),
        "paused": host.paused,
        "stopped": host.stopped_reason,
        "errors": host.errors,
        "refused_while_paused": host.refused_while_paused,
        "open_orders": len(engine.manager.open_orders(strategy_id=s.id)),
        "fills": engine.portfolio.fill_count(s.id),
        "handled": host.queue.handled,
        "conflated": host.queue.conflated,
        "pnl": {"realized": pnl.realized, "unrealized": pnl.unrealized, "fees": pnl.fees, "net": pnl.net},
    }


def _order(o: Order) -> dict[str, Any]:
    return {
        "client_order_id": o.client_order_id, "strategy": o.strategy_id, "instrument": o.instrument,
        "venue": o.venue, "side": o.side.value, "type": o.type.value, "qty": o.qty, "price": o.price,
        "filled": o.filled_qty, "status": o.status.value, "pending": None if o.pending is None else o.pending.value,
        "created_ns": o.created_ns,
    }


def _feeds(engine: Engine, state: OpsState) -> list[dict[str, Any]]:
    out = []
    reported = {venue for venue, _ in state.feeds}
    for (venue, sub), st in sorted(state.feeds.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        out.append({"venue": venue, "subscription": sub, "state": st.state.value, "detail": st.detail, "ts_ns": st.ts})
    for name in sorted(engine.venues):
        if name not in reported:
            out.append({"venue": name, "subscription": None, "state": "no status reported", "detail": "", "ts_ns": None})
    return out


def encode(doc: Any) -> bytes:
    return msgspec.json.encode(doc)
