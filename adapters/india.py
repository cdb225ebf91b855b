"""Indian-market rules shared by the Indian venues (smallcase, Samco) and the paper broker.

Exchanges and segments, products (and the words users write for them), validity, tick and lot
arithmetic, freeze-quantity slicing, circuit bands, the IST trading calendar (sessions, holidays,
intraday square-off), after-market orders, and Instrument builders. Each venue's wire codes live
in its own package (`adapters/<venue>/parsing.py`).

Prices and quantities are Decimal. Times are integer nanoseconds since the epoch (UTC) at the API
boundary and IST inside.
"""

from __future__ import annotations

import csv
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import NamedTuple

import structlog

from engine.clock import NS
from engine.events import Instrument, Side, TimeInForce, instrument_id
from engine.orders.slicing import freeze_slices

log = structlog.get_logger("tickbus.india")

# --- exchanges ---------------------------------------------------------------------------------


class Segment(enum.StrEnum):
    CASH_EQUITY = "cash_equity"
    EQUITY_DERIVATIVES = "equity_derivatives"
    COMMODITY = "commodity"
    CURRENCY = "currency"


class Exchange(enum.StrEnum):
    NSE = "NSE"
    BSE = "BSE"
    NFO = "NFO"
    BFO = "BFO"
    MCX = "MCX"
    CDS = "CDS"

    @property
    def segment(self) -> Segment:
        return EXCHANGE_SEGMENT[self]


EXCHANGE_SEGMENT: dict[Exchange, Segment] = {
    Exchange.NSE: Segment.CASH_EQUITY,
    Exchange.BSE: Segment.CASH_EQUITY,
    Exchange.NFO: Segment.EQUITY_DERIVATIVES,
    Exchange.BFO: Segment.EQUITY_DERIVATIVES,
    Exchange.MCX: Segment.COMMODITY,
    Exchange.CDS: Segment.CURRENCY,
}

ExchangeLike = Exchange | str


def parse_exchange(value: ExchangeLike) -> Exchange:
    """The Exchange named by `value` (case-insensitive), or a ValueError listing the known ones."""
    try:
        return Exchange(str(value).upper())
    except ValueError:
        known = ", ".join(Exchange)
        raise ValueError(f"unknown Indian exchange {value!r}; expected one of {known}") from None


# --- products ----------------------------------------------------------------------------------


class Product(enum.StrEnum):
    CNC = "CNC"  # delivery
    MIS = "MIS"  # intraday, squared off by the broker before the close
    NRML = "NRML"  # carry forward / margin (F&O, commodity, currency)


# What users may write in configs and venue_options.
PRODUCT_NAMES: dict[str, Product] = {
    "CNC": Product.CNC,
    "DELIVERY": Product.CNC,
    "MIS": Product.MIS,
    "INTRADAY": Product.MIS,
    "NRML": Product.NRML,
    "CARRY": Product.NRML,
    "MARGIN": Product.NRML,
    "NORMAL": Product.NRML,
}


def parse_product(value: str) -> Product:
    """A Product from a user's word for it (CNC/delivery, MIS/intraday, NRML/carry/margin)."""
    product = PRODUCT_NAMES.get(value.strip().upper())
    if product is None:
        raise ValueError(
            f"unknown product {value!r}; expected CNC (delivery), MIS (intraday) or NRML (carry)"
        )
    return product


# --- validity ----------------------------------------------------------------------------------


class Validity(enum.StrEnum):
    """Order validity on Indian exchanges (the values are also Samco's wire codes)."""

    DAY = "DAY"
    IOC = "IOC"


_VALIDITY: dict[TimeInForce, Validity] = {
    TimeInForce.DAY: Validity.DAY,
    TimeInForce.IOC: Validity.IOC,
}


def validity_for(tif: TimeInForce) -> Validity:
    """The Indian validity for an engine TimeInForce; GTC, FOK and post-only have none."""
    validity = _VALIDITY.get(tif)
    if validity is None:
        raise ValueError(
            f"time in force {str(tif).upper()} is not available: Indian exchanges accept DAY or IOC"
        )
    return validity


# --- tick and lot ------------------------------------------------------------------------------

_SIDE_ROUNDING: dict[Side | None, str] = {
    None: ROUND_HALF_UP,
    Side.BUY: ROUND_FLOOR,  # never pay more than asked
    Side.SELL: ROUND_CEILING,  # never sell for less than asked
}


def _positive(value: Decimal, name: str) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value}")


def _round(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    return (value / step).to_integral_value(rounding=rounding) * step


def round_to_tick(price: Decimal, tick: Decimal, side: Side | None = None) -> Decimal:
    """`price` on the tick grid: down for a buy, up for a sell, nearest (half up) without a side."""
    _positive(tick, "tick")
    return _round(price, tick, _SIDE_ROUNDING[side])


def is_on_tick(price: Decimal, tick: Decimal) -> bool:
    """Whether `price` is a whole number of ticks."""
    _positive(tick, "tick")
    return price % tick == 0


def is_lot_multiple(qty: Decimal, lot: Decimal) -> bool:
    """Whether `qty` is a whole number of lots."""
    _positive(lot, "lot size")
    return qty % lot == 0


# --- freeze quantities -------------------------------------------------------------------------


class IndexContract(NamedTuple):
    lot: Decimal
    freeze_qty: Decimal


# Snapshot, not truth: NSE revises both every few months. Lots from NSE/FAOP/70616 (Oct 2025,
# for contracts from the 30-Dec-2025 expiry on); freeze limits (units, the most one order may
# carry) from NSE/FAOP/73039, effective 02-Mar-2026. Update from the current circulars or
# https://www.nseindia.com/products-services/equity-derivatives-contract-information ; a
# config may override per instrument (Instrument.freeze_qty / lot_size win over this table).
NSE_INDEX_FNO: dict[str, IndexContract] = {
    "NIFTY": IndexContract(lot=Decimal(65), freeze_qty=Decimal(1800)),
    "BANKNIFTY": IndexContract(lot=Decimal(30), freeze_qty=Decimal(600)),
    "FINNIFTY": IndexContract(lot=Decimal(60), freeze_qty=Decimal(1200)),
    "MIDCPNIFTY": IndexContract(lot=Decimal(120), freeze_qty=Decimal(2800)),
    "NIFTYNXT50": IndexContract(lot=Decimal(25), freeze_qty=Decimal(600)),
}


def split_by_freeze(qty: Decimal, freeze_qty: Decimal | None, lot_size: Decimal) -> list[Decimal]:
    """Slices of `qty`, each a lot multiple no larger than the freeze limit, largest first."""
    _positive(lot_size, "lot size")
    _positive(qty, "quantity")
    if not is_lot_multiple(qty, lot_size):
        raise ValueError(f"quantity {qty} is not a multiple of the lot size {lot_size}")
    if freeze_qty is None or qty <= freeze_qty:
        return [qty]
    if freeze_qty < lot_size:
        raise ValueError(f"freeze quantity {freeze_qty} is below one lot of {lot_size}")
    # the engine's order manager splits orders the same way (largest lot multiple under the limit)
    return freeze_slices(qty, freeze_qty, lot_size)


# --- price bands -------------------------------------------------------------------------------

# The daily price bands NSE/BSE put on cash-market stocks (F&O stocks have dynamic bands).
CIRCUIT_BAND_PCTS: tuple[Decimal, ...] = (Decimal(2), Decimal(5), Decimal(10), Decimal(20))


@dataclass(frozen=True, slots=True)
class PriceBand:
    """The prices an exchange accepts today, both ends included."""

    lower: Decimal
    upper: Decimal

    def __post_init__(self) -> None:
        if self.lower > self.upper:
            raise ValueError(f"price band lower {self.lower} is above upper {self.upper}")

    def contains(self, price: Decimal) -> bool:
        return self.lower <= price <= self.upper


def band_from_close(
    prev_close: Decimal, pct: Decimal, tick: Decimal = Decimal("0.05")
) -> PriceBand:
    """The circuit band `pct` % either side of the previous close, rounded inwards to the tick."""
    _positive(prev_close, "previous close")
    _positive(tick, "tick")
    if not 0 < pct < 100:
        raise ValueError(f"band percentage must be between 0 and 100, got {pct}")
    # Inwards, so both ends are tradable prices; the exchange's published limits (quote feeds
    # carry them) are exact and should be preferred when available.
    width = prev_close * Decimal(pct) / 100
    return PriceBand(
        lower=_round(prev_close - width, tick, ROUND_CEILING),
        upper=_round(prev_close + width, tick, ROUND_FLOOR),
    )


# --- time --------------------------------------------------------------------------------------

# IST is a fixed +05:30 with no DST, so no tz database is needed.
IST = timezone(timedelta(hours=5, minutes=30), "IST")
_IST_OFFSET_NS = (5 * 3600 + 30 * 60) * NS
_DAY_NS = 86_400 * NS
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def to_ns(dt: datetime) -> int:
    """Nanoseconds since the epoch for an aware datetime, exactly."""
    if dt.tzinfo is None:
        raise ValueError("datetime must be timezone-aware (use tzinfo=IST for Indian local time)")
    return (dt - _EPOCH) // timedelta(microseconds=1) * 1000


def to_ist(ts_ns: int) -> datetime:
    """The IST datetime of a nanosecond timestamp (to the microsecond)."""
    return (_EPOCH + timedelta(microseconds=ts_ns // 1000)).astimezone(IST)


def ist_date(ts_ns: int) -> date:
    """The IST calendar date of a nanosecond timestamp."""
    return date.fromordinal(_EPOCH_ORDINAL + (ts_ns + _IST_OFFSET_NS) // _DAY_NS)


def _ns_at(day: int, t: time) -> int:
    """UTC nanoseconds of IST wall time `t` on day number `day` (days since 1970-01-01)."""
    seconds = t.hour * 3600 + t.minute * 60 + t.second
    return day * _DAY_NS + seconds * NS + t.microsecond * 1000 - _IST_OFFSET_NS


# --- trading calendar --------------------------------------------------------------------------

# NSE equity holidays by year, from adapters/data/nse_holidays.csv (the NSE circulars; see the
# file). The F&O and currency segments follow it; MCX keeps its evening session on most of these
# days, so using this list for MCX closes it for the whole day (conservative) unless
# `special_sessions` says otherwise.
HOLIDAYS_FILE = Path(__file__).with_name("data") / "nse_holidays.csv"


def load_holidays(path: Path = HOLIDAYS_FILE) -> dict[int, tuple[date, ...]]:
    """Year -> that year's holidays, from a `date,holiday` CSV (lines starting with # skipped)."""
    by_year: dict[int, list[date]] = {}
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("#")]
    for row in csv.DictReader(lines):
        day = date.fromisoformat(row["date"])
        by_year.setdefault(day.year, []).append(day)
    return {year: tuple(sorted(days)) for year, days in by_year.items()}


NSE_HOLIDAYS: dict[int, tuple[date, ...]] = load_holidays()
NSE_HOLIDAYS_2026: tuple[date, ...] = NSE_HOLIDAYS.get(2026, ())

# Normal-market hours in IST, open included, close excluded.
SESSION_HOURS: dict[Exchange, tuple[time, time]] = {
    Exchange.NSE: (time(9, 15), time(15, 30)),
    Exchange.BSE: (time(9, 15), time(15, 30)),
    Exchange.NFO: (time(9, 15), time(15, 30)),
    Exchange.BFO: (time(9, 15), time(15, 30)),
    Exchange.CDS: (time(9, 0), time(17, 0)),
    # MCX closes at 23:30 while the US is on daylight time and 23:55 otherwise; we keep 23:30,
    # which is early (safe) in winter. Override through `sessions` for exactness.
    Exchange.MCX: (time(9, 0), time(23, 30)),
}

# Broker convention for the intraday (MIS) auto square-off, not an exchange rule: equity brokers
# use 15:10-15:20, currency ~16:45, commodity 23:00-23:25 (summer). Configurable per calendar.
SQUARE_OFF_TIMES: dict[Exchange, time] = {
    Exchange.NSE: time(15, 20),
    Exchange.BSE: time(15, 20),
    Exchange.NFO: time(15, 20),
    Exchange.BFO: time(15, 20),
    Exchange.CDS: time(16, 45),
    Exchange.MCX: time(23, 0),
}

_SEARCH_DAYS = 3660  # next_open gives up after ten years of closed days


class TradingCalendar:
    """IST sessions per exchange: weekends and holidays closed, special sessions honoured.

    `holidays` defaults to every year of the shipped list; `holiday_years` are the years it covers
    (by default the years that list has). A day in a year not covered closes on weekends only, and
    the first such day of each year is warned about once."""

    def __init__(
        self,
        holidays: Iterable[date] | None = None,
        *,
        holiday_years: Iterable[int] | None = None,
        extra_holidays: Iterable[date] = (),
        sessions: Mapping[Exchange, tuple[time, time]] | None = None,
        square_off: Mapping[Exchange, time] | None = None,
        special_sessions: Mapping[tuple[Exchange, date], tuple[time, time] | None] | None = None,
    ) -> None:
        if holidays is None:
            holidays = [d for days in NSE_HOLIDAYS.values() for d in days]
            holiday_years = NSE_HOLIDAYS.keys() if holiday_years is None else holiday_years
        self.holidays: frozenset[date] = frozenset(holidays)
        self.holiday_years: frozenset[int] = frozenset(holiday_years if holiday_years is not None else {d.year for d in self.holidays})
        self._warned_years: set[int] = set()
        self.extra_holidays: frozenset[date] = frozenset(extra_holidays)
        self.sessions: dict[Exchange, tuple[time, time]] = {**SESSION_HOURS, **(sessions or {})}
        self.square_off: dict[Exchange, time] = {**SQUARE_OFF_TIMES, **(square_off or {})}
        # (exchange, day) -> hours, or None for closed: Muhurat trading on a Sunday, an MCX
        # evening-only holiday (17:00-23:30), an exchange-specific closure.
        self.special_sessions: dict[tuple[Exchange, date], tuple[time, time] | None] = {
            (parse_exchange(ex), d): hours for (ex, d), hours in (special_sessions or {}).items()
        }
        for exchange, (open_t, close_t) in self.sessions.items():
            if not open_t < close_t:
                raise ValueError(f"{exchange}: session open {open_t} is not before close {close_t}")
        # exchange -> day number -> (open_ns, close_ns) or None; filled on demand.
        self._bounds_cache: dict[str, dict[int, tuple[int, int] | None]] = {}

    def add_holidays(self, days: Iterable[date]) -> None:
        """Close more days (a user's additions to `extra_holidays`)."""
        self.extra_holidays = self.extra_holidays | frozenset(days)
        self._bounds_cache.clear()

    def is_trading_day(self, d: date) -> bool:
        """Whether `d` is a weekday that is not a holiday."""
        if d.year not in self.holiday_years and d.year not in self._warned_years:
            self._warned_years.add(d.year)
            log.warning("no NSE holiday list for this year: only weekends are closed", year=d.year,
                        covered=sorted(self.holiday_years), add_to=str(HOLIDAYS_FILE))
        return d.weekday() < 5 and d not in self.holidays and d not in self.extra_holidays

    def hours(self, exchange: ExchangeLike, d: date) -> tuple[time, time] | None:
        """The IST open and close wall times of `exchange` on `d`, or None when closed."""
        ex = parse_exchange(exchange)
        key = (ex, d)
        if key in self.special_sessions:
            return self.special_sessions[key]
        if not self.is_trading_day(d):
            return None
        return self.sessions[ex]

    def session(self, exchange: ExchangeLike, d: date) -> tuple[datetime, datetime] | None:
        """The IST open and close of `exchange` on `d` (close excluded), or None when closed."""
        hours = self.hours(exchange, d)
        if hours is None:
            return None
        return datetime.combine(d, hours[0], IST), datetime.combine(d, hours[1], IST)

    def _bounds(self, exchange: ExchangeLike, day: int) -> tuple[int, int] | None:
        """(open_ns, close_ns) of `exchange` on day number `day`, cached."""
        per_exchange = self._bounds_cache.get(exchange)
        if per_exchange is not None and day in per_exchange:
            return per_exchange[day]
        hours = self.hours(exchange, date.fromordinal(_EPOCH_ORDINAL + day))
        bounds = None if hours is None else (_ns_at(day, hours[0]), _ns_at(day, hours[1]))
        self._bounds_cache.setdefault(parse_exchange(exchange), {})[day] = bounds
        return bounds

    def is_open(self, exchange: ExchangeLike, ts_ns: int) -> bool:
        """Whether `exchange` is in its normal session at `ts_ns` (open <= ts < close)."""
        bounds = self._bounds(exchange, (ts_ns + _IST_OFFSET_NS) // _DAY_NS)
        return bounds is not None and bounds[0] <= ts_ns < bounds[1]

    def next_open(self, exchange: ExchangeLike, ts_ns: int) -> int:
        """The start of the first session opening at or after `ts_ns`, in ns."""
        day = (ts_ns + _IST_OFFSET_NS) // _DAY_NS
        for offset in range(_SEARCH_DAYS):
            bounds = self._bounds(exchange, day + offset)
            if bounds is not None and bounds[0] >= ts_ns:
                return bounds[0]
        raise ValueError(
            f"{exchange}: no session opens within {_SEARCH_DAYS} days of {to_ist(ts_ns)}"
        )

    def session_close(self, exchange: ExchangeLike, ts_ns: int) -> int | None:
        """The close (ns) of the session containing `ts_ns`, or None when the market is shut."""
        bounds = self._bounds(exchange, (ts_ns + _IST_OFFSET_NS) // _DAY_NS)
        if bounds is None or not bounds[0] <= ts_ns < bounds[1]:
            return None
        return bounds[1]

    def square_off_time(self, exchange: ExchangeLike, d: date) -> datetime | None:
        """When brokers square off intraday (MIS) positions on `d`; the close if that is earlier."""
        session = self.session(exchange, d)
        if session is None:
            return None
        open_dt, close_dt = session
        configured = self.square_off.get(parse_exchange(exchange))
        if configured is None:
            return close_dt
        at = datetime.combine(d, configured, IST)
        # A short special session (Muhurat) may end before the usual square-off time.
        return at if open_dt < at <= close_dt else close_dt

    def square_off_ns(self, exchange: ExchangeLike, ts_ns: int) -> int | None:
        """The square-off time (ns) of the IST day containing `ts_ns`, or None when closed."""
        at = self.square_off_time(exchange, ist_date(ts_ns))
        return None if at is None else to_ns(at)


_DEFAULT_CALENDAR = TradingCalendar()


def default_calendar() -> TradingCalendar:
    """The shared calendar (the shipped NSE holidays, standard hours); changes to it are seen by all."""
    return _DEFAULT_CALENDAR


# --- after-market orders -----------------------------------------------------------------------

# A typical broker AMO window on trading days (it wraps past midnight); brokers differ by minutes.
AMO_WINDOW_TYPICAL: tuple[time, time] = (time(15, 45), time(8, 57))


def _in_window(t: time, window: tuple[time, time]) -> bool:
    start, end = window
    if start <= end:
        return start <= t < end
    return t >= start or t < end


@dataclass(frozen=True, slots=True)
class AmoPolicy:
    """When a broker takes after-market orders; with no window, whenever the market is closed."""

    calendar: TradingCalendar
    window: tuple[time, time] | None = None

    def accepts(self, exchange: ExchangeLike, ts_ns: int) -> bool:
        """Whether an AMO placed at `ts_ns` is accepted."""
        if self.calendar.is_open(exchange, ts_ns):
            return False
        if self.window is None:
            return True
        local = to_ist(ts_ns)
        # On a day without a session brokers take AMOs around the clock.
        if self.calendar.hours(exchange, local.date()) is None:
            return True
        return _in_window(local.time(), self.window)

    def release_ns(self, exchange: ExchangeLike, ts_ns: int) -> int:
        """When an AMO placed at `ts_ns` reaches the exchange: the next session open."""
        return self.calendar.next_open(exchange, ts_ns)


def amo_accepted(
    exchange: ExchangeLike, ts_ns: int, calendar: TradingCalendar | None = None
) -> bool:
    """Whether an AMO is accepted at `ts_ns` under the default policy (market closed)."""
    return AmoPolicy(calendar or _DEFAULT_CALENDAR).accepts(exchange, ts_ns)


def amo_release_ns(
    exchange: ExchangeLike, ts_ns: int, calendar: TradingCalendar | None = None
) -> int:
    """When an AMO placed at `ts_ns` is sent to the exchange: the next session open."""
    return (calendar or _DEFAULT_CALENDAR).next_open(exchange, ts_ns)


# --- instruments -------------------------------------------------------------------------------


def split_symbol(symbol: str) -> tuple[Exchange, str]:
    """("NSE", "RELIANCE") from "NSE:RELIANCE"; the exchange part must be a known exchange."""
    exchange, sep, name = symbol.partition(":")
    if not sep or not exchange or not name:
        raise ValueError(
            f"Indian symbol must look like 'EXCHANGE:SYMBOL' (e.g. 'NSE:RELIANCE'), got {symbol!r}"
        )
    if ":" in name:
        raise ValueError(
            f"Indian symbol has more than one ':' in {symbol!r}; expected 'EXCHANGE:SYMBOL'"
        )
    try:
        return Exchange(exchange), name
    except ValueError:
        known = ", ".join(Exchange)
        raise ValueError(
            f"unknown exchange {exchange!r} in symbol {symbol!r}; expected one of {known}"
        ) from None


def make_instrument(
    venue: str,
    exchange: ExchangeLike,
    symbol: str,
    tick: Decimal,
    lot: Decimal,
    kind: str,
    freeze_qty: Decimal | None = None,
    token: str | None = None,
) -> Instrument:
    """An Instrument with id "venue:EXCHANGE:symbol", quoted in INR, one lot the minimum."""
    ex = parse_exchange(exchange)
    if not symbol or ":" in symbol:
        raise ValueError(f"symbol must be the bare trading symbol without ':', got {symbol!r}")
    _positive(tick, "tick")
    _positive(lot, "lot size")
    full = f"{ex}:{symbol}"
    return Instrument(
        id=instrument_id(venue, full),
        venue=venue,
        symbol=full,
        base=symbol,
        quote="INR",
        exchange=str(ex),
        tick_size=tick,
        lot_size=lot,
        min_qty=lot,
        freeze_qty=freeze_qty,
        kind=kind,
        token=token,
    )


def nse_equity(
    venue: str, symbol: str, *, tick: Decimal = Decimal("0.05"), lot: Decimal = Decimal(1)
) -> Instrument:
    """An NSE cash-equity Instrument, e.g. nse_equity("samco", "RELIANCE") -> samco:NSE:RELIANCE."""
    # NSE has moved low-priced stocks to a 0.01 tick; pass the scrip master's tick when known.
    return make_instrument(venue, Exchange.NSE, symbol, tick, lot, "equity")
