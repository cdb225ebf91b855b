"""The end-of-run summary: orders by status, fills, PnL per strategy, positions, balances, the bus,
and a check that cash and positions account for every fill and fee."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import UserError
from engine.events import ZERO, Fill

if TYPE_CHECKING:
    from engine.app.runner import Engine


def build_summary(engine: Engine) -> dict[str, Any]:
    pf = engine.portfolio
    by_status = engine.manager.book.counts_by_status()
    strategies = {}
    for host in engine.hosts:
        sid = host.strategy.id
        pnl = pf.pnl(sid)
        strategies[sid] = {
            "fills": pf.fill_count(sid),
            "realized": str(pnl.realized),
            "unrealized": str(pnl.unrealized),
            "fees": str(pnl.fees),
            "net": str(pnl.net),
            "errors": host.errors,
            "stopped": host.stopped_reason,
            "failed": host.failed,
            "conflated": host.queue.conflated,
            "handled": host.queue.handled,
        }
    requests = {name: stats for name, venue in engine.venues.items() if (stats := venue.request_stats())}
    positions = [
        {"instrument": p.instrument, "qty": str(p.qty), "avg_price": str(p.avg_price),
         "tick_size": None if p.instrument not in pf.instruments else str(pf.instruments[p.instrument].tick_size)}
        for p in pf.positions()
        if p.qty != 0
    ]
    balances = [
        {"venue": b.venue, "asset": b.asset, "free": str(b.free), "locked": str(b.locked)}
        for (_, _), b in sorted(pf.balances.items())
    ]
    total = pf.pnl()
    return {
        "run": engine.plan.name,
        "mode": engine.mode,
        "stop_reason": engine.stop_reason,
        "wall_s": round(engine.ended_wall - engine.started_wall, 3),
        "orders": dict(sorted(by_status.items())),
        "orders_total": sum(by_status.values()),
        "fills": engine.manager.stats.fills,
        "strategies": strategies,
        "pnl": {
            "realized": str(total.realized),
            "unrealized": str(total.unrealized),
            "fees": str(total.fees),
            "net": str(total.net),
        },
        "positions": positions,
        "balances": balances,
        "bus": engine.bus.stats.as_dict(),
        "orders_engine": {
            "risk_rejected": engine.manager.stats.risk_rejected,
            "refused_transitions": engine.manager.stats.refused_transitions,
            "duplicate_fills": engine.manager.stats.duplicate_fills,
            "overfills": engine.manager.stats.overfills,
            "stale_reports": engine.manager.stats.stale_reports,
        },
        "kill_switch": engine.risk.halted,
        "requests": requests,
        "left_open": [
            {"client_order_id": o.client_order_id, "venue": o.venue, "venue_order_id": o.venue_order_id,
             "instrument": o.instrument, "status": o.status.value}
            for o in engine.left_open
        ],
        "recovery": engine.recovery,
        "controls": list(engine.controls),
        "reconciliation": reconcile(engine),
        **({"shadow": {name: shadow.report() for name, shadow in engine.shadows.items()}} if engine.shadows else {}),
    }


def reconcile(engine: Engine) -> dict[str, Any] | None:
    """Paper runs: for each quote currency, the cash change plus the value of the positions must
    equal realised + unrealised PnL minus fees, and each base asset must change by its position."""
    if engine.plan.paper is None:
        return None
    pf = engine.portfolio
    start: dict[str, Decimal] = dict(engine.plan.paper.config.balances)  # type: ignore[attr-defined]
    end = {asset: b.total for (venue, asset), b in pf.balances.items() if venue == "paper"}
    quotes = sorted({i.quote for i in pf.instruments.values()})
    out: dict[str, Any] = {"ok": True, "currencies": {}}
    for quote in quotes:
        insts = [i for i in pf.instruments.values() if i.quote == quote]
        if not insts:
            continue
        realized = unrealized = fees = value = ZERO
        for inst in insts:
            pnl = pf.pnl(instrument=inst.id)
            realized += pnl.realized
            unrealized += pnl.unrealized
            fees += pnl.fees
            pos = pf.position(inst.id)
            mark = pf.mark(inst.id)
            if pos.qty and mark is not None:
                value += pos.qty * mark
        cash_change = end.get(quote, start.get(quote, ZERO)) - start.get(quote, ZERO)
        lhs = cash_change + value
        rhs = realized + unrealized - fees
        ok = abs(lhs - rhs) <= Decimal("1e-6") * max(Decimal(1), abs(rhs))
        out["currencies"][quote] = {
            "cash_change": str(cash_change),
            "position_value": str(value),
            "pnl_net": str(rhs),
            "ok": ok,
        }
        out["ok"] = out["ok"] and ok
    for inst in pf.instruments.values():
        pos = pf.position(inst.id)
        if pos.qty == 0 and inst.base not in end:
            continue
        change = end.get(inst.base, start.get(inst.base, ZERO)) - start.get(inst.base, ZERO)
        if change != pos.qty:
            out["ok"] = False
            out.setdefault("assets", {})[inst.base] = {"balance_change": str(change), "position": str(pos.qty)}
    return out


def render(summary: dict[str, Any]) -> str:
    """The summary for a person."""
    lines = [f"── tickbus run: {summary['run']} ({summary['mode']}) — {summary['stop_reason']}, {summary['wall_s']}s"]
    statuses = ", ".join(f"{k} {v}" for k, v in summary["orders"].items()) or "none"
    lines.append(f"orders  : {summary['orders_total']} ({statuses})")
    lines.append(f"fills   : {summary['fills']}")
    for sid, s in summary["strategies"].items():
        stopped = f"  STOPPED by its error policy: {s['stopped']}" if s["failed"] else ""
        lines.append(
            f"strategy: {sid}: fills {s['fills']}, realized {_d(s['realized'])}, unrealized {_d(s['unrealized'])}, "
            f"fees {_d(s['fees'])}, net {_d(s['net'])}, errors {s['errors']}{stopped}"
        )
    for p in summary["positions"]:
        lines.append(f"position: {p['instrument']} {_q(p['qty'])} @ {_price(p['avg_price'], p.get('tick_size'))}")
    for b in summary["balances"]:
        locked = f" (locked {_q(b['locked'])})" if Decimal(b["locked"]) else ""
        lines.append(f"balance : {b['venue']} {b['asset']} {_q(b['free'])}{locked}")
    bus = summary["bus"]
    lines.append(
        f"bus     : {bus['published']} events, {bus['conflated']} conflated, {bus['handler_errors']} handler errors"
    )
    eng = summary["orders_engine"]
    lines.append(
        f"checks  : {eng['risk_rejected']} refused by risk, {eng['refused_transitions']} refused transitions, "
        f"{eng['duplicate_fills']} duplicate fills, {eng['overfills']} overfills"
    )
    for name, r in summary.get("requests", {}).items():
        answers = ", ".join(f"{status} {n}" for status, n in r["statuses"].items()) or "none"
        busiest = max(r.get("limiters", {}).items(), key=lambda kv: kv[1]["peak"] / kv[1]["limit"], default=None)
        limiter = f"; busiest limiter {busiest[0]} {busiest[1]['peak']}/{busiest[1]['limit']}" if busiest else ""
        lines.append(f"requests: {name} {r['requests']} ({answers}), retried {r['retried']}{limiter}")
    if summary["kill_switch"]:
        lines.append(f"KILL SWITCH: {summary['kill_switch']}")
    for o in summary["left_open"]:
        lines.append(f"LEFT OPEN at {o['venue']}: {o['client_order_id']} ({o['venue_order_id']}) {o['instrument']} {o['status']}")
    for name, sh in summary.get("shadow", {}).items():
        ticks, later = sh["ticks_better_on_paper"], sh["paper_first_fill_ms_later"]
        lines.append(
            f"shadow  : {name} {sh['orders']} orders: {sh['both_filled']} filled on both, {sh['venue_only']} only at the venue, "
            f"{sh['paper_only']} only on paper; paper/venue filled {sh['fill_ratio_paper_to_venue']}"
            + (f"; paper {ticks['median']} ticks better (median)" if ticks else "")
            + (f", first fill {later['median']} ms later on paper (median)" if later else "")
        )
    for c in summary.get("controls", []):
        lines.append(f"control : {c['action']} {c['target'] or ''} by {c['by']}".rstrip())
    report = summary.get("report")
    if report:
        lines.append(f"report  : {report['html']} (trades {report['trades']})" if "html" in report
                     else f"report  : NOT WRITTEN: {report.get('error')}")
    rec = summary["reconciliation"]
    if rec is not None:
        verdict = "consistent" if rec["ok"] else "INCONSISTENT"
        parts = [
            f"{q}: cash {_d(c['cash_change'])} + positions {_d(c['position_value'])} = net PnL {_d(c['pnl_net'])}"
            for q, c in rec["currencies"].items()
        ]
        lines.append(f"ledger  : {verdict}; " + "; ".join(parts))
    return "\n".join(lines)


def _q(text: str) -> str:
    """A quantity or balance as it is, every significant digit kept (1.004 BTC is not 1.00)."""
    value = Decimal(text).normalize()
    if value == value.to_integral_value():
        value = value.quantize(Decimal(1))
    return f"{value:,f}"


def _price(text: str, tick_size: str | None) -> str:
    """An average price for a person: two places finer than the instrument's tick (an average lies
    between ticks), not the 28 digits of an exact division."""
    value = Decimal(text)
    places = Decimal(tick_size).normalize().as_tuple().exponent if tick_size else -6
    step = Decimal(1).scaleb(min(int(places), 0) - 2)
    return f"{value.quantize(step):,f}"


def _d(text: str) -> str:
    """Money for a person: to the cent (sub-unit amounts keep six significant digits)."""
    value = Decimal(text)
    return f"{value:,.2f}" if abs(value) >= 1 or value == 0 else f"{value:.6g}"


TRADE_COLUMNS = ("ts_event", "strategy", "instrument", "side", "qty", "price", "fee", "fee_asset", "liquidity",
                 "client_order_id", "fill_id")


def write_trades(fills: Sequence[Fill], path: Path) -> None:
    """`--trades FILE`: the run's fills as CSV; a file that cannot be written is one line."""
    try:
        write_fills(fills, path)
    except OSError as exc:
        raise UserError(f"--trades: cannot write {path}: {exc.strerror}") from None


def write_fills(fills: Sequence[Fill], path: Path) -> None:
    """Fills as CSV, in the order they happened: the same run gives the same bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(TRADE_COLUMNS)
        for f in fills:
            writer.writerow((f.ts_event, f.strategy_id or "", f.instrument, f.side.value, f.qty, f.price, f.fee,
                             f.fee_asset or "", f.liquidity or "", f.client_order_id or "", f.fill_id))
