"""Market hours per exchange for the paper venue and the emulators: Indian sessions from the IST calendar, 24/7 otherwise."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from adapters.india import Exchange, TradingCalendar, default_calendar
from engine.events import Instrument

_DAY_NS = 86_400 * 1_000_000_000
SESSION_EXCHANGES = frozenset(e.value for e in Exchange)


class MarketHours:
    def __init__(self, extra_holidays: Iterable[date] = (), calendar: TradingCalendar | None = None) -> None:
        extra = list(extra_holidays)
        if calendar is None:
            calendar = default_calendar() if not extra else TradingCalendar(extra_holidays=extra)
        self.calendar = calendar

    def has_sessions(self, inst: Instrument) -> bool:
        return inst.exchange in SESSION_EXCHANGES

    def is_open(self, inst: Instrument, ts_ns: int) -> bool:
        if inst.exchange not in SESSION_EXCHANGES:
            return True  # crypto and synthetic markets trade around the clock
        return self.calendar.is_open(inst.exchange, ts_ns)

    def next_open(self, inst: Instrument, ts_ns: int) -> int:
        if inst.exchange not in SESSION_EXCHANGES:
            return ts_ns
        return self.calendar.next_open(inst.exchange, ts_ns)

    def session_close(self, inst: Instrument, ts_ns: int) -> int:
        """When a DAY order placed at `ts_ns` expires: its session's close, or UTC midnight 24/7."""
        if inst.exchange in SESSION_EXCHANGES:
            close = self.calendar.session_close(inst.exchange, ts_ns)
            if close is None:  # closed now: the order will live through the next session
                close = self.calendar.session_close(inst.exchange, self.calendar.next_open(inst.exchange, ts_ns))
            assert close is not None
            return close
        return (ts_ns // _DAY_NS + 1) * _DAY_NS
