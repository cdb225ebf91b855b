"""Positions, average prices, realised and unrealised PnL, fees, and balances per venue and asset."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import msgspec

from engine.events import ZERO, Balance, Fill, Instrument, Position, Quote, Side, Trade


class PnL(msgspec.Struct, frozen=True):
    realized: Decimal
    unrealized: Decimal
    fees: Decimal

    @property
    def net(self) -> Decimal:
        return self.realized + self.unrealized - self.fees


class _Book:
    """Running position in one instrument (for one strategy, or for all of them)."""

    __slots__ = ("qty", "avg", "realized", "fees", "fills", "bought", "sold", "cash_flow")

    def __init__(self) -> None:
        self.qty = ZERO
        self.avg = ZERO
        self.realized = ZERO
        self.fees = ZERO
        self.fills = 0
        self.bought = ZERO
        self.sold = ZERO
        self.cash_flow = ZERO  # quote currency paid out (-) and received (+), fees excluded

    def apply(self, side: Side, qty: Decimal, price: Decimal, fee: Decimal) -> None:
        signed = qty if side is Side.BUY else -qty
        self.fills += 1
        self.fees += fee
        self.cash_flow -= signed * price
        if side is Side.BUY:
            self.bought += qty
        else:
            self.sold += qty
        if self.qty == 0 or (self.qty > 0) == (signed > 0):
            total = self.qty + signed
            self.avg = (self.avg * abs(self.qty) + price * qty) / abs(total)
            self.qty = total
            return
        closing = min(qty, abs(self.qty))
        direction = 1 if self.qty > 0 else -1
        self.realized += (price - self.avg) * closing * direction
        self.qty += signed
        if self.qty == 0:
            self.avg = ZERO
        elif (self.qty > 0) != (direction > 0):  # flipped: the rest opens at this price
            self.avg = price

    def unrealized(self, mark: Decimal | None) -> Decimal:
        if mark is None or self.qty == 0:
            return ZERO
        return (mark - self.avg) * self.qty


class Portfolio:
    def __init__(self, instruments: Mapping[str, Instrument] | None = None) -> None:
        self.instruments: dict[str, Instrument] = dict(instruments or {})
        self.marks: dict[str, float] = {}
        self.balances: dict[tuple[str, str], Balance] = {}
        self._books: dict[str, dict[str, _Book]] = {}  # strategy -> instrument -> its book (one strategy's in one place)
        self._net: dict[str, _Book] = {}

    # --- market data (direct subscribers, hot path) -------------------------------------------

    def on_quote(self, quote: Quote) -> None:
        if quote.bid > 0 and quote.ask > 0:
            self.marks[quote.instrument] = (quote.bid + quote.ask) * 0.5
        elif quote.last is not None:
            self.marks[quote.instrument] = quote.last

    def on_trade(self, trade: Trade) -> None:
        self.marks[trade.instrument] = trade.price

    # --- facts --------------------------------------------------------------------------------

    def apply_fill(self, fill: Fill) -> None:
        fee = self._fee_in_quote(fill)
        books = self._books.get(fill.strategy_id or "")
        if books is None:
            books = self._books[fill.strategy_id or ""] = {}
        book = books.get(fill.instrument)
        if book is None:
            book = books[fill.instrument] = _Book()
        book.apply(fill.side, fill.qty, fill.price, fee)
        net = self._net.get(fill.instrument)
        if net is None:
            net = self._net[fill.instrument] = _Book()
        net.apply(fill.side, fill.qty, fill.price, fee)

    def restore(self, position: Position) -> None:
        """A strategy's position as core holds it (a strategy host's start, across the bridge)."""
        book = self._books.setdefault(position.strategy_id or "", {})[position.instrument] = _Book()
        book.qty, book.avg, book.realized, book.fees = position.qty, position.avg_price, position.realized_pnl, position.fees
        net = self._net.setdefault(position.instrument, _Book())
        net.apply(Side.BUY if position.qty >= 0 else Side.SELL, abs(position.qty), position.avg_price, position.fees)

    def _fee_in_quote(self, fill: Fill) -> Decimal:
        inst = self.instruments.get(fill.instrument)
        if inst is not None and fill.fee_asset is not None and fill.fee_asset == inst.base:
            return fill.fee * fill.price
        return fill.fee

    def on_balance(self, balance: Balance) -> None:
        self.balances[(balance.venue, balance.asset)] = balance

    # --- queries ------------------------------------------------------------------------------

    def mark(self, instrument: str) -> Decimal | None:
        value = self.marks.get(instrument)
        return None if value is None else Decimal(repr(value))

    def position(self, instrument: str, strategy_id: str | None = None) -> Position:
        book = self._net.get(instrument) if strategy_id is None else self._books.get(strategy_id, {}).get(instrument)
        if book is None:
            return Position(instrument=instrument, qty=ZERO, strategy_id=strategy_id)
        return Position(
            instrument=instrument,
            qty=book.qty,
            avg_price=book.avg,
            realized_pnl=book.realized,
            fees=book.fees,
            strategy_id=strategy_id,
        )

    def positions(self, strategy_id: str | None = None) -> list[Position]:
        if strategy_id is None:
            return [self.position(i) for i in sorted(self._net)]
        return [self.position(i, strategy_id) for i in sorted(self._books.get(strategy_id, ()))]

    def strategies(self) -> list[str]:
        return sorted(self._books)

    def pnl(self, strategy_id: str | None = None, instrument: str | None = None) -> PnL:
        realized = unrealized = fees = ZERO
        if strategy_id is None:
            books = [(i, b) for i, b in self._net.items()]
        else:
            books = list(self._books.get(strategy_id, {}).items())
        for inst, book in books:
            if instrument is not None and inst != instrument:
                continue
            realized += book.realized
            unrealized += book.unrealized(self.mark(inst))
            fees += book.fees
        return PnL(realized=realized, unrealized=unrealized, fees=fees)

    def cash_flow(self, quote_asset: str | None = None) -> Decimal:
        """Quote currency paid and received by every fill (fees excluded), optionally one asset."""
        total = ZERO
        for inst_id, book in self._net.items():
            inst = self.instruments.get(inst_id)
            if quote_asset is None or (inst is not None and inst.quote == quote_asset):
                total += book.cash_flow
        return total

    def fill_count(self, strategy_id: str | None = None) -> int:
        if strategy_id is None:
            return sum(b.fills for b in self._net.values())
        return sum(b.fills for b in self._books.get(strategy_id, {}).values())

    def balance(self, venue: str, asset: str) -> Balance | None:
        return self.balances.get((venue, asset))
