"""The summary a person reads: quantities and balances keep their precision, money reads in cents."""

from __future__ import annotations

from engine.app.summary import _d, _price, _q


def test_a_balance_of_a_fraction_of_a_coin_is_not_rounded_away() -> None:
    assert _q("1.004") == "1.004"
    assert _q("0.00010000") == "0.0001"
    assert _q("98647300.000") == "98,647,300"


def test_money_reads_to_the_cent() -> None:
    assert _d("-1624.9876") == "-1,624.99"
    assert _d("0") == "0.00"


def test_an_average_price_reads_two_places_finer_than_the_tick_not_28_digits() -> None:
    assert _price("100.6481481481481481481481481", "0.05") == "100.6481"
    assert _price("135000123.456", "1") == "135,000,123.46"
    assert _price("2500", "0.5") == "2,500.000"
    assert _price("1.23456789", None) == "1.23456789"  # no instrument known: eight places
