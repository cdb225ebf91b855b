"""`GET /metrics`: the engine's own counters, read at scrape time by a custom Collector (the hot
path does no extra work for it), plus the order-ack latency histogram kept in OpsState."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from engine.events import OrderStatus
from engine.ops.status import strategy_state

if TYPE_CHECKING:
    from engine.app.runner import Engine
    from engine.ops.state import OpsState

MAX_REASONS = 50  # distinct reject reasons as labels; the rest count as "other"
_NUMBER = re.compile(r"\d[\d.,eE+-]*")


def reject_reason(reason: str | None) -> str:
    """A reason as a label: numbers replaced, the detail after the first ':' dropped."""
    if not reason:
        return "unknown"
    head = reason.split(":", 1)[0]
    return _NUMBER.sub("N", head).strip()[:80] or "unknown"


class EngineCollector(Collector):
    def __init__(self, engine: Engine, state: OpsState) -> None:
        self.engine = engine
        self.state = state

    def collect(self) -> Iterator[Metric]:
        yield from self._bus()
        yield from self._orders()
        yield from self._strategies()
        yield from self._feeds()
        yield from self._alerts()
        yield from self._bridge()
        yield from self._venues()
        e = self.engine
        yield _gauge("tickbus_kill_switch", "1 while the kill switch holds new orders", 1 if e.risk.halted else 0)
        yield _counter("tickbus_journal_records", "Records written to the order journal", e.journal.written)
        yield _counter("tickbus_journal_commits", "Journal commits (group commits)", e.journal.commits)
        yield _counter("tickbus_journal_commit_seconds", "Time spent writing and committing the journal",
                       e.journal.commit_seconds)
        yield _gauge("tickbus_pnl_net", "Net PnL of the run (all currencies added up)", float(e.portfolio.pnl().net))
        yield _counter("tickbus_controls", "Operator controls carried out", len(e.controls))

    def _venues(self) -> Iterator[Metric]:
        """Requests, answers by status, rate-limit headroom (each limiter's busiest window against its
        limit) and the login session, per venue."""
        sent = CounterMetricFamily("tickbus_venue_requests", "REST requests sent (retries included)", labels=["venue"])
        answers = CounterMetricFamily("tickbus_venue_answers", "REST answers by HTTP status", labels=["venue", "status"])
        peak = GaugeMetricFamily("tickbus_rate_limit_peak", "Most calls in one of the venue's windows so far",
                                 labels=["venue", "limiter"])
        limit = GaugeMetricFamily("tickbus_rate_limit_limit", "Calls the venue allows per window", labels=["venue", "limiter"])
        waited = CounterMetricFamily("tickbus_rate_limit_waited_seconds", "Time calls waited for the limiter",
                                     labels=["venue", "limiter"])
        session = GaugeMetricFamily("tickbus_venue_session", "1 for the venue's session state", labels=["venue", "state"])
        for name, venue in sorted(self.engine.venues.items()):
            stats = venue.request_stats()
            if stats:
                sent.add_metric([name], stats.get("requests", 0))
                for status, n in stats.get("statuses", {}).items():
                    answers.add_metric([name, status], n)
                for lim_name, lim in stats.get("limiters", {}).items():
                    peak.add_metric([name, lim_name], lim["peak"])
                    limit.add_metric([name, lim_name], lim["limit"])
                    waited.add_metric([name, lim_name], lim["waited_s"])
            state = venue.session_state()
            if state is not None:
                session.add_metric([name, state], 1)
        yield from (sent, answers, peak, limit, waited, session)

    def _bridge(self) -> Iterator[Metric]:
        extension = self.engine.extension
        if extension is None:
            return
        st = extension.status()
        yield _gauge("tickbus_bridge_connected", "1 while core is connected to NATS", 1 if st["connected"] else 0)
        yield _gauge("tickbus_bridge_events_backlog", "Order events announced and not yet in the stream (the lag)",
                     st["events_backlog"])
        yield _counter("tickbus_bridge_events_published", "Order events put in the stream", st["events_published"])
        yield _counter("tickbus_bridge_market_published", "Market data events sent to strategy hosts", st["market_published"])
        commands = CounterMetricFamily("tickbus_bridge_commands", "Order commands from strategy hosts", labels=["outcome"])
        for outcome, n in st["commands"].items():
            commands.add_metric([outcome], n)
        yield commands

    def _bus(self) -> Iterator[Metric]:
        bus = self.engine.bus
        stats = bus.stats
        by_type = bus.published_by_type()
        yield _counter("tickbus_bus_events", "Events published on the bus", sum(by_type.values()))
        events = CounterMetricFamily("tickbus_bus_events_by_type", "Events published on the bus, by event type",
                                     labels=["type"])
        for name, n in sorted(by_type.items()):
            events.add_metric([name], n)
        yield events
        yield _counter("tickbus_bus_conflated", "Market data events conflated under backpressure", stats.conflated)
        conflated = CounterMetricFamily("tickbus_bus_conflated_by_type", "Market data events conflated, by event type",
                                        labels=["type"])
        for name, n in sorted(stats.conflated_by_type.items()):
            conflated.add_metric([name], n)
        yield conflated
        yield _counter("tickbus_bus_handler_errors", "Subscriber handlers that raised", stats.handler_errors)
        per = CounterMetricFamily("tickbus_subscriber_conflated", "Events conflated per queued subscriber",
                                  labels=["subscriber"])
        for q in self.engine.bus.queued_subscribers:
            per.add_metric([q.name], q.conflated)
        yield per

    def _orders(self) -> Iterator[Metric]:
        m = self.engine.manager
        by = m.book.status_counts()
        orders = GaugeMetricFamily("tickbus_orders", "Orders of the run and its journal, by status and venue",
                                   labels=["status", "venue"])
        for (status, venue), n in sorted(by.items()):
            orders.add_metric([status, venue], n)
        yield orders
        reasons: Counter[str] = Counter()
        for o in m.orders.values():
            if o.status is OrderStatus.REJECTED:
                reason = reject_reason(o.reason)
                reasons[reason if reason in reasons or len(reasons) < MAX_REASONS else "other"] += 1
        rejects = GaugeMetricFamily("tickbus_rejects", "Rejected orders the manager holds in memory, by reason", labels=["reason"])
        for reason, n in sorted(reasons.items()):
            rejects.add_metric([reason], n)
        yield rejects
        stats = m.stats
        yield _counter("tickbus_orders_submitted", "Orders submitted by strategies and controls", stats.submitted)
        yield _counter("tickbus_orders_risk_rejected", "Orders refused before any venue", stats.risk_rejected)
        yield _counter("tickbus_fills", "Fills applied", stats.fills)
        yield _counter("tickbus_fills_duplicate", "Fills seen twice and ignored", stats.duplicate_fills)
        yield _counter("tickbus_overfills", "Fills beyond an order's quantity", stats.overfills)
        yield _counter("tickbus_refused_transitions", "Order reports the status table refused", stats.refused_transitions)
        yield _gauge("tickbus_open_orders", "Open orders", m.open_count)

    def _strategies(self) -> Iterator[Metric]:
        errors = CounterMetricFamily("tickbus_strategy_errors", "Errors raised by strategy callbacks", labels=["strategy"])
        state = GaugeMetricFamily("tickbus_strategy_state", "1 for the strategy's state", labels=["strategy", "state"])
        refused = CounterMetricFamily("tickbus_strategy_refused_paused", "Orders refused while paused",
                                      labels=["strategy"])
        pnl = GaugeMetricFamily("tickbus_strategy_pnl_net", "Net PnL per strategy", labels=["strategy"])
        feed = GaugeMetricFamily("tickbus_feed_to_strategy_seconds", "A quote's age when its strategy callback "
                                 "starts (frame received -> callback), over the last sampled quotes",
                                 labels=["strategy", "quantile"])
        for host in self.engine.hosts:
            if host.feed_latency:
                ages = sorted(host.feed_latency)
                for q in (0.5, 0.99):
                    feed.add_metric([host.strategy.id, str(q)], ages[min(len(ages) - 1, round(q * (len(ages) - 1)))] / 1e9)
            sid = host.strategy.id
            errors.add_metric([sid], host.errors)
            current = strategy_state(host)
            for name in ("running", "paused", "stopped"):
                state.add_metric([sid, name], 1 if name == current else 0)
            refused.add_metric([sid], host.refused_while_paused)
            pnl.add_metric([sid], float(self.engine.portfolio.pnl(sid).net))
        yield from (errors, state, refused, pnl, feed)

    def _feeds(self) -> Iterator[Metric]:
        stale = GaugeMetricFamily("tickbus_feed_unhealthy", "Feed subscriptions (or connections) whose last status "
                                  "is not connected", labels=["venue"])
        for venue, n in sorted(self.state.stale_feeds().items()):
            stale.add_metric([venue], n)
        yield stale


    def _alerts(self) -> Iterator[Metric]:
        alerter = self.engine.ops.alerter if self.engine.ops is not None else None
        if alerter is None:
            return
        sent = CounterMetricFamily("tickbus_alerts_sent", "Alerts delivered", labels=["destination"])
        failed = CounterMetricFamily("tickbus_alerts_failed", "Alerts not delivered after the retries",
                                     labels=["destination"])
        for dest in alerter.destinations:
            sent.add_metric([dest.name], dest.sent)
            failed.add_metric([dest.name], dest.failed)
        yield from (sent, failed)
        yield _counter("tickbus_alerts_dropped", "Alerts dropped: the queue was full", alerter.dropped)
        yield _counter("tickbus_alerts_rate_limited", "Alerts dropped by the rate limit", alerter.rate_limited)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def render_metrics(state: OpsState) -> bytes:
    return generate_latest(state.registry)
