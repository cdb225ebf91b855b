"""The report as one self-contained HTML page: inline CSS and SVG, no script, no network."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from html import escape
from typing import Any

from engine.events import Fill, Side
from engine.orders.journal import ALL
from engine.report.build import Report
from engine.report.metrics import Figures
from engine.report.svg import COLORS, Line, Marker, chart

MAX_TRADE_ROWS = 5000  # the page's trade list; the CSV has every one
MAX_MARKERS = 5000  # fills marked on one price chart

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1em 2em; color: #222; background: #fafafa; }
h1 { font-size: 1.3em; margin: 0 0 .3em; } h2 { font-size: 1.05em; margin: 1.4em 0 .4em; }
table { border-collapse: collapse; background: #fff; min-width: 30em; }
th, td { border: 1px solid #ddd; padding: .2em .6em; text-align: left; font-variant-numeric: tabular-nums; }
td.n { text-align: right; } th { background: #f0f0f0; } .muted { color: #888; }
.pos { color: #070; } .neg { color: #b00; } .headline span { margin-right: 1.4em; }
figure { margin: .6em 0; } figcaption { color: #555; margin-bottom: .2em; }
svg.chart { background: #fff; border: 1px solid #ddd; } svg .plot { fill: none; stroke: #eee; }
svg .grid { stroke: #f0f0f0; } svg .zero { stroke: #aaa; stroke-dasharray: 3 3; }
svg .tick { font-size: 11px; fill: #666; } svg .marker.buy { fill: #070; } svg .marker.sell { fill: #b00; }
pre { background: #fff; border: 1px solid #ddd; padding: .6em; overflow: auto; max-height: 30em; }
dl.defs dt { font-weight: bold; } dl.defs dd { margin: 0 0 .4em 1.5em; }
"""

_COLUMNS = ("", "net PnL", "realised", "unrealised", "fees", "return", "Sharpe", "Sortino", "max drawdown",
            "trades", "round trips", "win rate", "turnover", "exposure mean / max", "in market")


def render(report: Report) -> str:
    run = report.run
    title = f"tickbus report: {run.get('name', 'run')}"
    body = [
        f"<h1>{escape(title)} <span class='muted'>({escape(str(run.get('mode', '?')))})</span></h1>",
        _headline(report),
        "<h2>Equity</h2>", _equity_charts(report),
        "<h2>Price and fills</h2>", _price_charts(report),
        "<h2>By strategy</h2>", _figures_table("strategies", "strategy", report.strategies),
        "<h2>By instrument</h2>", _figures_table("instruments", "instrument", report.instruments),
        f"<h2>Trades <span class='muted'>({len(report.fills)} fills, {len(report.trips)} round trips)</span></h2>",
        _trades_table(report.fills),
        "<h2>Figures of the run</h2>", _run_figures(report.summary),
        "<h2>Config</h2>", _pre("config", run.get("config", {})),
        "<h2>How the figures are made</h2>", _definitions(report),
    ]
    return ("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{escape(title)}</title>\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<link rel=\"icon\" href=\"data:,\">\n"
            f"<style>{_STYLE}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n")


def _headline(report: Report) -> str:
    t = report.total
    summary = report.summary or {}
    first, last = _span(report)
    items = [
        ("net PnL", _money(t.net)), ("return", _pct(t.ret)), ("Sharpe", _ratio(t.sharpe)),
        ("Sortino", _ratio(t.sortino)), ("max drawdown", _money(-t.max_drawdown)), ("win rate", _pct(t.win_rate)),
        ("trades", str(t.trades)), ("fees", _money(t.fees, signed=False)),
    ]
    spans = "".join(f"<span>{escape(k)} <b>{v}</b></span>" for k, v in items)
    where = f"{escape(str(report.run.get('file', '')))} · journal {escape(str(report.run.get('journal') or 'in memory'))}"
    when = f"{first} → {last} UTC" if first else "no samples"
    reason = escape(str(summary.get("stop_reason", "")))
    runs = f" · {report.runs} runs on this journal (figures over all)" if report.runs > 1 else ""
    return (f"<div class='muted'>{where} · {when} · {reason}{runs}</div>"
            f"<p class='headline' id='headline'>{spans}</p>")


def _span(report: Report) -> tuple[str, str]:
    rows = report.series.get((ALL, ALL), [])
    if not rows:
        return "", ""
    return _when(rows[0].ts_ns), _when(rows[-1].ts_ns)


def _equity_charts(report: Report) -> str:
    total = report.series.get((ALL, ALL), [])
    lines = [Line("all", [(r.ts_ns, float(r.net)) for r in total], COLORS[0])]
    for k, fig in enumerate(report.strategies):
        rows = report.series.get((fig.scope, ALL), [])
        if rows and len(report.strategies) > 1:
            lines.append(Line(fig.scope, [(r.ts_ns, float(r.net)) for r in rows], COLORS[(k + 1) % len(COLORS)]))
    peak = Decimal(0)
    drawdown = []
    for r in total:
        peak = max(peak, r.net)
        drawdown.append((r.ts_ns, float(r.net - peak)))
    return (chart("equity-chart", "net PnL (realised + unrealised - fees), every sample", lines)
            + chart("drawdown-chart", "drawdown: net PnL below its running peak",
                    [Line("drawdown", drawdown, "#b00", area=True)]))


def _price_charts(report: Report) -> str:
    out = []
    for k, fig in enumerate(report.instruments):
        rows = report.series.get((ALL, fig.scope), [])
        marks = [(r.ts_ns, r.mark) for r in rows if r.mark is not None]
        fills = [f for f in report.fills if f.instrument == fig.scope]
        step = -(-len(fills) // MAX_MARKERS)  # past the cap, every step-th fill is marked
        caption = f"{fig.scope}: mark (mid) and fills (▲ buy, ▼ sell)"
        if step > 1:
            caption += f", every {step}th of {len(fills)} fills"
        markers = [
            Marker(f.ts_event, float(f.price), f.side is Side.BUY,
                   f"{f.strategy_id or ''} {f.side.value} {f.qty} @ {f.price} ({_when(f.ts_event)})")
            for f in fills[::max(step, 1)]
        ]
        out.append(chart(f"price-chart-{k}", caption,
                         [Line("mark", [(t, float(m)) for t, m in marks if m is not None], COLORS[0])], markers))
    return "".join(out) or "<p class='muted'>no instruments</p>"


def _figures_table(table_id: str, what: str, rows: Sequence[Figures]) -> str:
    head = "".join(f"<th>{escape(c or what)}</th>" for c in _COLUMNS)
    body = []
    for f in rows:
        cells = [
            _money(f.net), _money(f.realized), _money(f.unrealized), _money(f.fees, signed=False), _pct(f.ret),
            _ratio(f.sharpe),
            _ratio(f.sortino), _money(-f.max_drawdown) + (f" ({_pct(-f.max_drawdown_pct)})" if f.max_drawdown_pct else ""),
            str(f.trades), str(f.round_trips), _pct(f.win_rate),
            _money(f.turnover, signed=False) + (f" ({f.turnover_x:.2f}×)" if f.turnover_x is not None else ""),
            f"{_money(f.exposure_mean, signed=False)} / {_money(f.exposure_max, signed=False)}", _pct(f.time_in_market),
        ]
        body.append(f"<tr><td>{escape(f.scope or '(none)')}</td>" + "".join(f"<td class='n'>{c}</td>" for c in cells) + "</tr>")
    if not body:
        body.append(f"<tr><td colspan='{len(_COLUMNS)}' class='muted'>none</td></tr>")
    return f"<table id='{table_id}'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _trades_table(fills: Sequence[Fill]) -> str:
    head = "".join(f"<th>{c}</th>" for c in ("time (UTC)", "strategy", "instrument", "side", "qty", "price", "fee",
                                              "client order id", "fill id"))
    rows = []
    for f in fills[:MAX_TRADE_ROWS]:
        rows.append(
            f"<tr><td>{_when(f.ts_event)}</td><td>{escape(f.strategy_id or '')}</td><td>{escape(f.instrument)}</td>"
            f"<td class='{'pos' if f.side is Side.BUY else 'neg'}'>{f.side.value}</td><td class='n'>{f.qty}</td>"
            f"<td class='n'>{f.price}</td><td class='n'>{f.fee} {escape(f.fee_asset or '')}</td>"
            f"<td>{escape(f.client_order_id or '')}</td><td>{escape(f.fill_id)}</td></tr>"
        )
    more = (f"<p class='muted'>the first {MAX_TRADE_ROWS} of {len(fills)}; every fill is in the CSV</p>"
            if len(fills) > MAX_TRADE_ROWS else "")
    return f"<table id='trades'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"


def _run_figures(summary: dict[str, Any] | None) -> str:
    """The summary's headline figures as a table, the whole summary below it."""
    if not summary:
        return "<p class='muted'>the run has no summary: it did not end (killed, or still running)</p>"
    bus = summary.get("bus", {})
    checks = summary.get("orders_engine", {})
    ledger = summary.get("reconciliation")
    rows = [
        ("stopped", summary.get("stop_reason")), ("wall time", f"{summary.get('wall_s')} s"),
        ("orders", f"{summary.get('orders_total')} ({', '.join(f'{k} {v}' for k, v in summary.get('orders', {}).items())})"),
        ("fills", summary.get("fills")), ("bus events", bus.get("published")), ("conflated", bus.get("conflated")),
        ("refused by risk", checks.get("risk_rejected")), ("duplicate fills", checks.get("duplicate_fills")),
        ("positions left", ", ".join(f"{p['instrument']} {p['qty']}" for p in summary.get("positions", [])) or "none"),
        ("kill switch", summary.get("kill_switch") or "off"),
        ("ledger", "—" if ledger is None else "consistent" if ledger.get("ok") else "INCONSISTENT"),
    ]
    table = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
    return (f"<table id='run-figures'><tbody>{table}</tbody></table>"
            f"<details><summary>the whole summary</summary>{_pre('summary', summary)}</details>")


def _definitions(report: Report) -> str:
    capital = (f"{_money(report.capital, signed=False)} ({escape(str(report.run.get('capital_from')))})"
               if report.capital is not None else "none known (set report.capital): return and % not shown")
    items = [
        ("samples", f"the engine records PnL, fees and exposure every {report.interval_s:g} s of engine time "
                    "(simulated time in a backtest), and once more at the end of the run"),
        ("capital", capital),
        ("net PnL", "realised + unrealised (at the mark: the mid of the last quote, else the last trade) - fees; "
                    "totals add the instruments' amounts as the summary does, each in its quote currency"),
        ("Sharpe, Sortino", "of the per-sample changes of net PnL over capital; mean / standard deviation (n-1), "
                            "Sortino over the downside deviation (target 0); annualised by √(365.25 × 86,400 / "
                            "interval) (calendar time), zero risk-free rate"),
        ("max drawdown", "the largest fall of net PnL from its running peak; % of capital + peak"),
        ("round trip, win rate", "a position from flat back to flat (a flip closes one, opens the next); PnL on "
                                 "the average cost minus its fees; win rate: trips with PnL > 0 / trips"),
        ("turnover", "sum of qty × price of the fills (× capital)"),
        ("exposure", "|qty| × mark summed over instruments: mean and peak over the samples; in market: share of "
                     "samples with a position"),
    ]
    return "<dl class='defs'>" + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in items) + "</dl>"


def _pre(pre_id: str, value: object) -> str:
    return f"<pre id='{pre_id}'>{escape(json.dumps(value, indent=2, sort_keys=True, default=str))}</pre>"


def _when(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _money(value: Decimal, signed: bool = True) -> str:
    """Money to the cent (sub-unit amounts to six digits); a PnL green or red, other amounts plain."""
    if value == 0:
        return "0.00"
    text = f"{value:,.2f}" if abs(value) >= 1 else f"{value:.6g}"
    if not signed:
        return text
    cls = "pos" if value > 0 else "neg" if value < 0 else ""
    return f"<span class='{cls}'>{text}</span>" if cls else text


def _pct(value: Decimal | float | None) -> str:
    return "—" if value is None else f"{float(value) * 100:.2f}%"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"
