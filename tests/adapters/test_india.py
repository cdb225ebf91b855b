"""Indian-market rules: products, validity, tick/lot, freeze slicing, bands, the IST calendar, AMOs."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from adapters.india import (
    HOLIDAYS_FILE,
    IST,
    NSE_HOLIDAYS,
    NSE_HOLIDAYS_2026,
    NSE_INDEX_FNO,
    AmoPolicy,
    Exchange,
    PriceBand,
    Product,
    Segment,
    TradingCalendar,
    Validity,
    amo_accepted,
    amo_release_ns,
    band_from_close,
    default_calendar,
    is_lot_multiple,
    is_on_tick,
    load_holidays,
    make_instrument,
    nse_equity,
    parse_product,
    round_to_tick,
    split_by_freeze,
    split_symbol,
    to_ist,
    to_ns,
    validity_for,
)
from engine.events import Side, TimeInForce, split_instrument_id

D = Decimal


def ist(*args: int) -> int:
    """Nanoseconds of an IST wall-clock time."""
    return to_ns(datetime(*args, tzinfo=IST))


# 2026-03-02 is a Monday; 2026-03-03 (Tuesday) is Holi.
MONDAY = date(2026, 3, 2)
assert MONDAY.weekday() == 0


# --- enums ----------------------------------------------------------------------


def test_exchange_segments() -> None:
    assert Exchange.NSE.segment is Segment.CASH_EQUITY
    assert Exchange.BSE.segment is Segment.CASH_EQUITY
    assert Exchange.NFO.segment is Segment.EQUITY_DERIVATIVES
    assert Exchange.BFO.segment is Segment.EQUITY_DERIVATIVES
    assert Exchange.MCX.segment is Segment.COMMODITY
    assert Exchange.CDS.segment is Segment.CURRENCY


def test_a_users_word_for_a_product_is_read_case_insensitively() -> None:
    assert parse_product("intraday") is Product.MIS
    assert parse_product(" delivery ") is Product.CNC
    with pytest.raises(ValueError, match="unknown product"):
        parse_product("bracket")


def test_validity_mapping() -> None:
    assert validity_for(TimeInForce.DAY) is Validity.DAY
    assert validity_for(TimeInForce.IOC) is Validity.IOC
    for tif in (TimeInForce.GTC, TimeInForce.FOK, TimeInForce.POST_ONLY):
        with pytest.raises(ValueError, match="Indian exchanges accept DAY or IOC"):
            validity_for(tif)


# --- tick and lot ------------------------------------------------------------------------------


def test_round_to_tick_by_side() -> None:
    tick = D("0.05")
    assert round_to_tick(D("100.03"), tick, Side.BUY) == D("100.00")
    assert round_to_tick(D("100.03"), tick, Side.SELL) == D("100.05")
    assert round_to_tick(D("100.03"), tick) == D("100.05")
    assert round_to_tick(D("100.02"), tick) == D("100.00")
    assert round_to_tick(D("100.025"), tick) == D("100.05")  # half up
    assert round_to_tick(D("100.05"), tick, Side.BUY) == D("100.05")  # on tick stays put
    assert round_to_tick(D("100.05"), tick, Side.SELL) == D("100.05")
    with pytest.raises(ValueError, match="tick must be positive"):
        round_to_tick(D(1), D(0))


def test_is_on_tick_and_lot_multiple() -> None:
    assert is_on_tick(D("2500.55"), D("0.05"))
    assert not is_on_tick(D("2500.51"), D("0.05"))
    assert is_lot_multiple(D(130), D(65))
    assert not is_lot_multiple(D(100), D(65))
    with pytest.raises(ValueError, match="lot size must be positive"):
        is_lot_multiple(D(1), D(0))


@given(
    price=st.decimals(min_value=D("0.01"), max_value=D(1_000_000), places=4),
    tick=st.sampled_from([D("0.01"), D("0.05"), D("0.0025"), D(1), D("0.10")]),
    side=st.sampled_from([None, Side.BUY, Side.SELL]),
)
def test_round_to_tick_property(price: Decimal, tick: Decimal, side: Side | None) -> None:
    rounded = round_to_tick(price, tick, side)
    assert is_on_tick(rounded, tick)
    assert abs(rounded - price) < tick
    if side is Side.BUY:
        assert rounded <= price
    elif side is Side.SELL:
        assert rounded >= price
    else:
        assert abs(rounded - price) <= tick / 2


# --- freeze quantities -------------------------------------------------------------------------


def test_nifty_order_above_freeze_is_sliced() -> None:
    nifty = NSE_INDEX_FNO["NIFTY"]
    qty = nifty.lot * 60  # 3900 units
    slices = split_by_freeze(qty, nifty.freeze_qty, nifty.lot)
    assert sum(slices) == qty
    assert all(s <= nifty.freeze_qty and is_lot_multiple(s, nifty.lot) for s in slices)
    # 1800 is not a multiple of 65: slices use 27 lots (1755), the largest that fits.
    assert slices == [D(1755), D(1755), D(390)]


def test_freeze_split_edge_cases() -> None:
    assert split_by_freeze(D(600), D(600), D(30)) == [D(600)]
    assert split_by_freeze(D(1200), D(600), D(30)) == [D(600), D(600)]
    assert split_by_freeze(D(5000), None, D(1)) == [D(5000)]
    with pytest.raises(ValueError, match="not a multiple of the lot size 65"):
        split_by_freeze(D(100), D(1800), D(65))
    with pytest.raises(ValueError, match="below one lot"):
        split_by_freeze(D(200), D(40), D(50))
    with pytest.raises(ValueError, match="quantity must be positive"):
        split_by_freeze(D(0), D(1800), D(65))


@given(
    lots=st.integers(min_value=1, max_value=5000),
    lot=st.integers(min_value=1, max_value=500),
    freeze=st.integers(min_value=1, max_value=20_000),
)
def test_split_by_freeze_property(lots: int, lot: int, freeze: int) -> None:
    qty, lot_d, freeze_d = D(lots * lot), D(lot), D(freeze)
    if freeze < lot and qty > freeze_d:
        with pytest.raises(ValueError):
            split_by_freeze(qty, freeze_d, lot_d)
        return
    slices = split_by_freeze(qty, freeze_d, lot_d)
    assert sum(slices) == qty
    assert all(s > 0 and is_lot_multiple(s, lot_d) for s in slices)
    if qty <= freeze_d:
        assert slices == [qty]
    else:
        assert all(s <= freeze_d for s in slices)


def test_freeze_table_lots_are_sane() -> None:
    for name, spec in NSE_INDEX_FNO.items():
        assert spec.freeze_qty >= spec.lot, name


# --- price bands -------------------------------------------------------------------------------


def test_price_band() -> None:
    band = band_from_close(D(1000), D(5))
    assert band == PriceBand(D(950), D(1050))
    assert band.contains(D(950)) and band.contains(D(1050)) and band.contains(D(1000))
    assert not band.contains(D("949.95")) and not band.contains(D("1050.05"))


def test_price_band_rounds_inwards_to_tick() -> None:
    band = band_from_close(D("101.37"), D(5))  # exact: 96.3015 .. 106.4385
    assert band == PriceBand(D("96.35"), D("106.40"))
    assert is_on_tick(band.lower, D("0.05")) and is_on_tick(band.upper, D("0.05"))


def test_price_band_errors() -> None:
    with pytest.raises(ValueError, match="between 0 and 100"):
        band_from_close(D(100), D(0))
    with pytest.raises(ValueError, match="above upper"):
        PriceBand(D(10), D(9))


# --- calendar ----------------------------------------------------------------------------------


@pytest.fixture
def cal() -> TradingCalendar:
    return TradingCalendar(extra_holidays=[date(2026, 3, 4)])


def test_session_boundaries_close_is_exclusive(cal: TradingCalendar) -> None:
    assert not cal.is_open(Exchange.NSE, ist(2026, 3, 2, 9, 14, 59))
    assert not cal.is_open(Exchange.NSE, ist(2026, 3, 2, 9, 15) - 1)
    assert cal.is_open(Exchange.NSE, ist(2026, 3, 2, 9, 15))
    assert cal.is_open(Exchange.NSE, ist(2026, 3, 2, 15, 29, 59, 999999))
    assert not cal.is_open(Exchange.NSE, ist(2026, 3, 2, 15, 30))
    assert cal.is_open("NFO", ist(2026, 3, 2, 12, 0))


def test_other_exchange_hours(cal: TradingCalendar) -> None:
    assert cal.is_open(Exchange.CDS, ist(2026, 3, 2, 9, 0))
    assert not cal.is_open(Exchange.CDS, ist(2026, 3, 2, 17, 0))
    assert cal.is_open(Exchange.MCX, ist(2026, 3, 2, 23, 29))
    assert not cal.is_open(Exchange.MCX, ist(2026, 3, 2, 23, 30))
    assert not cal.is_open(Exchange.MCX, ist(2026, 3, 3, 0, 30))


def test_weekends_and_holidays_closed(cal: TradingCalendar) -> None:
    saturday = date(2026, 3, 7)
    assert saturday.weekday() == 5
    assert not cal.is_trading_day(saturday)
    assert not cal.is_open(Exchange.NSE, ist(2026, 3, 7, 11, 0))
    assert date(2026, 3, 3) in NSE_HOLIDAYS_2026  # Holi
    assert not cal.is_trading_day(date(2026, 3, 3))
    assert not cal.is_open(Exchange.NSE, ist(2026, 3, 3, 11, 0))
    assert not cal.is_open(Exchange.NSE, ist(2026, 3, 4, 11, 0))  # the user's extra holiday
    assert cal.is_open(Exchange.NSE, ist(2026, 3, 5, 11, 0))
    assert default_calendar().is_open(Exchange.NSE, ist(2026, 3, 4, 11, 0))


def test_holiday_list_is_weekdays_only() -> None:
    assert len(NSE_HOLIDAYS_2026) == 16
    assert all(d.weekday() < 5 and d.year == 2026 for d in NSE_HOLIDAYS_2026)


def test_the_shipped_holiday_list_covers_the_current_year() -> None:
    """A reminder with teeth: each December NSE publishes next year's list; it goes in the file."""
    year = date.today().year
    assert year in NSE_HOLIDAYS, f"add NSE's {year} holidays to {HOLIDAYS_FILE} (from the exchange's circular)"
    assert all(d.weekday() < 5 for days in NSE_HOLIDAYS.values() for d in days)


def test_a_year_without_a_holiday_list_is_said_once_and_closes_weekends_only() -> None:
    cal = TradingCalendar()
    with structlog.testing.capture_logs() as logs:
        assert cal.is_trading_day(date(2031, 1, 1)) and cal.is_trading_day(date(2031, 1, 2))
        assert not cal.is_trading_day(date(2031, 1, 4))  # a Saturday
        assert not cal.is_trading_day(date(2026, 12, 25))  # a covered year: no warning
    warned = [e for e in logs if e["event"].startswith("no NSE holiday list")]
    assert [e["year"] for e in warned] == [2031] and warned[0]["log_level"] == "warning"


def test_holidays_load_from_a_csv_by_year(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("# comment\ndate,holiday\n2030-01-26,Republic Day\n2029-10-02,Gandhi Jayanti\n")
    assert load_holidays(path) == {2030: (date(2030, 1, 26),), 2029: (date(2029, 10, 2),)}
    cal = TradingCalendar(load_holidays(path)[2030], holiday_years=[2030])
    assert not cal.is_trading_day(date(2030, 1, 26)) and cal.holiday_years == {2030}


def test_add_holidays_invalidates_cache() -> None:
    cal = TradingCalendar()
    ts = ist(2026, 3, 5, 11, 0)
    assert cal.is_open(Exchange.NSE, ts)
    cal.add_holidays([date(2026, 3, 5)])
    assert not cal.is_open(Exchange.NSE, ts)


def test_session_and_close(cal: TradingCalendar) -> None:
    open_dt, close_dt = cal.session(Exchange.NSE, MONDAY)  # type: ignore[misc]
    assert (open_dt, close_dt) == (
        datetime(2026, 3, 2, 9, 15, tzinfo=IST),
        datetime(2026, 3, 2, 15, 30, tzinfo=IST),
    )
    assert cal.session(Exchange.NSE, date(2026, 3, 3)) is None
    assert cal.session_close(Exchange.NSE, ist(2026, 3, 2, 10, 0)) == ist(2026, 3, 2, 15, 30)
    assert cal.session_close(Exchange.NSE, ist(2026, 3, 2, 15, 30)) is None
    assert cal.session_close(Exchange.NSE, ist(2026, 3, 2, 8, 0)) is None


def test_next_open(cal: TradingCalendar) -> None:
    friday_evening = ist(2026, 3, 6, 18, 0)
    assert cal.next_open(Exchange.NSE, friday_evening) == ist(2026, 3, 9, 9, 15)
    # Friday 23-Jan-2026 evening; Monday 26-Jan is Republic Day -> Tuesday.
    assert cal.next_open(Exchange.NSE, ist(2026, 1, 23, 16, 0)) == ist(2026, 1, 27, 9, 15)
    # Monday evening; Tuesday Holi and Wednesday the user's holiday -> Thursday.
    assert cal.next_open(Exchange.NSE, ist(2026, 3, 2, 15, 30)) == ist(2026, 3, 5, 9, 15)
    # Exactly at the open is that open; during the session it is the next one.
    assert cal.next_open(Exchange.NSE, ist(2026, 3, 5, 9, 15)) == ist(2026, 3, 5, 9, 15)
    assert cal.next_open(Exchange.NSE, ist(2026, 3, 5, 9, 16)) == ist(2026, 3, 6, 9, 15)
    assert cal.next_open(Exchange.NSE, ist(2026, 3, 5, 7, 0)) == ist(2026, 3, 5, 9, 15)


def test_square_off_time(cal: TradingCalendar) -> None:
    assert cal.square_off_time(Exchange.NSE, MONDAY) == datetime(2026, 3, 2, 15, 20, tzinfo=IST)
    assert cal.square_off_time(Exchange.NSE, date(2026, 3, 3)) is None
    assert cal.square_off_ns(Exchange.NSE, ist(2026, 3, 2, 10, 0)) == ist(2026, 3, 2, 15, 20)
    custom = TradingCalendar(square_off={Exchange.NSE: time(15, 10)})
    assert custom.square_off_time("NSE", MONDAY) == datetime(2026, 3, 2, 15, 10, tzinfo=IST)


def test_special_sessions() -> None:
    muhurat = date(2026, 11, 8)  # a Sunday
    cal = TradingCalendar(
        special_sessions={
            (Exchange.NSE, muhurat): (time(18, 0), time(19, 0)),
            (Exchange.MCX, date(2026, 3, 3)): (time(17, 0), time(23, 30)),
        }
    )
    assert cal.is_open(Exchange.NSE, ist(2026, 11, 8, 18, 30))
    assert not cal.is_open(Exchange.NFO, ist(2026, 11, 8, 18, 30))
    # The square-off falls back to the close when the usual time is outside the session.
    assert cal.square_off_time(Exchange.NSE, muhurat) == datetime(2026, 11, 8, 19, 0, tzinfo=IST)
    assert not cal.is_open(Exchange.MCX, ist(2026, 3, 3, 10, 0))
    assert cal.is_open(Exchange.MCX, ist(2026, 3, 3, 18, 0))


def test_unknown_exchange_is_a_clear_error(cal: TradingCalendar) -> None:
    with pytest.raises(ValueError, match="unknown Indian exchange 'NYSE'"):
        cal.is_open("NYSE", ist(2026, 3, 2, 10, 0))


def test_time_conversions_round_trip() -> None:
    ts = ist(2026, 3, 2, 9, 15, 0, 123456)
    assert to_ist(ts) == datetime(2026, 3, 2, 9, 15, 0, 123456, tzinfo=IST)
    assert to_ist(ts).utcoffset().total_seconds() == 19800  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="timezone-aware"):
        to_ns(datetime(2026, 3, 2))


# --- after-market orders -----------------------------------------------------------------------


def test_amo_accepted_when_closed() -> None:
    cal = default_calendar()
    assert amo_accepted(Exchange.NSE, ist(2026, 3, 6, 18, 0))
    assert amo_accepted(Exchange.NSE, ist(2026, 3, 7, 12, 0))  # Saturday
    assert not amo_accepted(Exchange.NSE, ist(2026, 3, 6, 11, 0))
    assert amo_release_ns(Exchange.NSE, ist(2026, 3, 6, 18, 0)) == ist(2026, 3, 9, 9, 15)
    policy = AmoPolicy(cal)
    assert policy.release_ns(Exchange.NSE, ist(2026, 3, 2, 16, 0)) == ist(2026, 3, 4, 9, 15)


def test_amo_window() -> None:
    policy = AmoPolicy(default_calendar(), window=(time(15, 45), time(8, 57)))
    assert not policy.accepts(Exchange.NSE, ist(2026, 3, 2, 15, 35))  # closed, before window
    assert policy.accepts(Exchange.NSE, ist(2026, 3, 2, 15, 45))
    assert policy.accepts(Exchange.NSE, ist(2026, 3, 2, 23, 0))
    assert policy.accepts(Exchange.NSE, ist(2026, 3, 5, 8, 56))
    assert not policy.accepts(Exchange.NSE, ist(2026, 3, 5, 9, 0))  # pre-open
    assert not policy.accepts(Exchange.NSE, ist(2026, 3, 5, 10, 0))  # market open
    assert policy.accepts(Exchange.NSE, ist(2026, 3, 3, 11, 0))  # Holi: any time


# --- instruments -------------------------------------------------------------------------------


def test_nse_equity() -> None:
    inst = nse_equity("samco", "RELIANCE")
    assert inst.id == "samco:NSE:RELIANCE"
    assert split_instrument_id(inst.id) == ("samco", "NSE:RELIANCE")
    assert (inst.venue, inst.symbol, inst.base) == ("samco", "NSE:RELIANCE", "RELIANCE")
    assert (inst.quote, inst.exchange, inst.kind) == ("INR", "NSE", "equity")
    assert (inst.tick_size, inst.lot_size) == (D("0.05"), D(1))


def test_make_instrument() -> None:
    nifty = NSE_INDEX_FNO["NIFTY"]
    inst = make_instrument(
        "firstock", "NFO", "NIFTY30MAR26C24500", D("0.05"), nifty.lot, "option",
        freeze_qty=nifty.freeze_qty, token="54321",
    )
    assert inst.id == "firstock:NFO:NIFTY30MAR26C24500"
    assert (inst.exchange, inst.lot_size, inst.min_qty) == ("NFO", D(65), D(65))
    assert (inst.freeze_qty, inst.token, inst.kind) == (D(1800), "54321", "option")
    with pytest.raises(ValueError, match="bare trading symbol"):
        make_instrument("samco", "NSE", "NSE:SBIN", D("0.05"), D(1), "equity")


def test_split_symbol() -> None:
    assert split_symbol("NSE:RELIANCE") == (Exchange.NSE, "RELIANCE")
    assert split_symbol("NFO:NIFTY30MAR26C24500") == (Exchange.NFO, "NIFTY30MAR26C24500")
    for bad in ("RELIANCE", "NSE:", ":RELIANCE", ""):
        with pytest.raises(ValueError, match="EXCHANGE:SYMBOL"):
            split_symbol(bad)
    with pytest.raises(ValueError, match="unknown exchange 'NYSE'"):
        split_symbol("NYSE:IBM")
    with pytest.raises(ValueError, match="more than one ':'"):
        split_symbol("samco:NSE:RELIANCE")
