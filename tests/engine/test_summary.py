"""The summary a person reads: quantities and balances keep their precision, money reads in cents."""

from __future__ import annotations

from engine.app.summary import _d, _q


def test_a_balance_of_a_fraction_of_a_coin_is_not_rounded_away() -> None:
    assert _q("1.004") == "1.004"
    assert _q("0.00010000") == "0.0001"
    assert _q("98647300.000") == "98,647,300"


def test_money_reads_to_the_cent() -> None:
    assert _d("-1624.9876") == "-1,624.99"
    assert _d("0") == "0.00"
