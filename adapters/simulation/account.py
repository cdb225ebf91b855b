"""A virtual account: balances per asset, funds held for working orders, fees on every fill."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from engine.events import ZERO, Instrument, OrderType, Side

_BPS = Decimal(10_000)


class FeeSchedule(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Fee: `bps` of the notional (maker fills may have their own), at least `minimum` per order.

    `fee()` is the fee of one amount traded at once. An account charges an order's fills so that
    their fees add up to `max(sum of bps fees, minimum)`: the minimum is paid once per order (on
    its first fill), not once per partial fill.
    """

    bps: Decimal = ZERO
    maker_bps: Decimal | None = None
    minimum: Decimal = ZERO

    def rate(self, liquidity: str = "taker") -> Decimal:
        return self.maker_bps if liquidity == "maker" and self.maker_bps is not None else self.bps

    def fee(self, notional: Decimal, liquidity: str = "taker") -> Decimal:
        return max(notional * self.rate(liquidity) / _BPS, self.minimum) if notional > 0 else ZERO

    def worst_fee(self, notional: Decimal) -> Decimal:
        """The most an order of `notional` can pay, whether its fills take or make liquidity."""
        return max(self.fee(notional, "taker"), self.fee(notional, "maker"))


class Hold(msgspec.Struct):
    asset: str
    amount: Decimal
    bps_fees: Decimal = ZERO  # the order's fees at its bps rates so far
    charged: Decimal = ZERO  # the fees actually charged to the order so far


class Account:
    """Balances of one owner. Buying holds quote currency, selling holds the base asset."""

    def __init__(
        self,
        balances: dict[str, Decimal] | None = None,
        *,
        fees: FeeSchedule | None = None,
        allow_short: bool = False,
        market_buffer: Decimal = Decimal("0.05"),
    ) -> None:
        self.free: dict[str, Decimal] = {k: Decimal(v) for k, v in (balances or {}).items()}
        self.locked: dict[str, Decimal] = {}
        self.fees = fees or FeeSchedule()
        self.allow_short = allow_short
        self.market_buffer = market_buffer
        self.fees_paid: dict[str, Decimal] = {}
        self._holds: dict[str, Hold] = {}

    def total(self, asset: str) -> Decimal:
        return self.free.get(asset, ZERO) + self.locked.get(asset, ZERO)

    def assets(self) -> list[str]:
        return sorted(set(self.free) | set(self.locked))

    def hold(
        self,
        order_id: str,
        inst: Instrument,
        side: Side,
        order_type: OrderType,
        qty: Decimal,
        price: Decimal | None,
        *,
        reference: Decimal | None = None,
        notional: Decimal | None = None,
    ) -> str | None:
        """Set aside what the order may spend; the reason it can't, or None."""
        if side is Side.SELL and self.allow_short:
            self._holds[order_id] = Hold(inst.base, ZERO)
            return None
        need = self._need(inst, side, order_type, qty, price, reference, notional, None)
        if isinstance(need, str):
            return need
        asset, amount = need
        free = self.free.get(asset, ZERO)
        if amount > free:
            return f"insufficient funds: {amount} {asset} needed, {free} available"
        self.free[asset] = free - amount
        self.locked[asset] = self.locked.get(asset, ZERO) + amount
        self._holds[order_id] = Hold(asset, amount)
        return None

    def rehold(
        self,
        order_id: str,
        inst: Instrument,
        side: Side,
        order_type: OrderType,
        qty: Decimal,
        price: Decimal | None,
        *,
        reference: Decimal | None = None,
    ) -> str | None:
        """Resize the hold of a working order to what `qty` more at `price` may spend (a modify).

        All or nothing: on refusal the old hold stays as it was. The fees the order has already
        paid count against the minimum, so a modify never charges the minimum twice.
        """
        hold = self._holds.get(order_id)
        if hold is None:
            return self.hold(order_id, inst, side, order_type, qty, price, reference=reference)
        if side is Side.SELL and self.allow_short:
            return None
        need = self._need(inst, side, order_type, qty, price, reference, None, hold)
        if isinstance(need, str):
            return need
        asset, amount = need
        extra = amount - hold.amount
        free = self.free.get(asset, ZERO)
        if extra > free:
            return f"insufficient funds: {extra} {asset} more needed, {free} available"
        self.free[asset] = free - extra
        self.locked[asset] = self.locked.get(asset, ZERO) + extra
        hold.amount = amount
        return None

    def _need(
        self,
        inst: Instrument,
        side: Side,
        order_type: OrderType,
        qty: Decimal,
        price: Decimal | None,
        reference: Decimal | None,
        notional: Decimal | None,
        hold: Hold | None,
    ) -> tuple[str, Decimal] | str:
        """(asset, amount) an order of `qty` more may spend, or why it can't be valued."""
        if side is Side.SELL:
            if qty <= 0:
                return "quantity must be positive"
            return inst.base, qty
        if notional is not None:
            if notional <= 0:
                return "notional must be positive"
            return inst.quote, notional + self.fees.worst_fee(notional)
        if qty <= 0:
            return "quantity must be positive"
        px = price if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else reference
        if px is None:
            return "no price to value the order"
        if order_type in (OrderType.MARKET, OrderType.STOP_MARKET):
            px = px * (1 + self.market_buffer)
        gross = qty * px
        if hold is None:
            return inst.quote, gross + self.fees.worst_fee(gross)
        # what is still to pay: the bps fees of the rest, topped up to the minimum, less what was paid
        rate = max(self.fees.rate("taker"), self.fees.rate("maker"))
        fees_due = max(hold.bps_fees + gross * rate / _BPS, self.fees.minimum) - hold.charged
        return inst.quote, gross + max(fees_due, ZERO)

    def settle(
        self,
        order_id: str,
        inst: Instrument,
        side: Side,
        qty: Decimal,
        price: Decimal,
        liquidity: str,
    ) -> Decimal:
        """Apply one fill; returns the fee charged (in the quote currency).

        The order's fees so far are `max(its bps fees, minimum)`; a sell is never charged more
        than its proceeds and the free quote balance can pay (the balance stays >= 0).
        """
        gross = qty * price
        hold = self._holds.get(order_id)
        if hold is None:  # a fill with no order behind it: priced on its own
            fee = self.fees.fee(gross, liquidity)
        else:
            hold.bps_fees += gross * self.fees.rate(liquidity) / _BPS
            fee = max(hold.bps_fees, self.fees.minimum) - hold.charged
        if side is Side.SELL:
            fee = max(min(fee, gross + self.free.get(inst.quote, ZERO)), ZERO)
        if hold is not None:
            hold.charged += fee
        if side is Side.BUY:
            cost = gross + fee
            self._release(hold, cost)
            self.free[inst.quote] = self.free.get(inst.quote, ZERO) - cost
            self.free[inst.base] = self.free.get(inst.base, ZERO) + qty
        else:
            self._release(hold, qty)
            self.free[inst.base] = self.free.get(inst.base, ZERO) - qty
            self.free[inst.quote] = self.free.get(inst.quote, ZERO) + gross - fee
        self.fees_paid[inst.quote] = self.fees_paid.get(inst.quote, ZERO) + fee
        return fee

    def _release(self, hold: Hold | None, amount: Decimal) -> None:
        """Move up to `amount` of a hold back to free (the fill then spends from free)."""
        if hold is None or hold.amount <= 0:
            return
        part = min(hold.amount, amount)
        hold.amount -= part
        self.locked[hold.asset] -= part
        self.free[hold.asset] = self.free.get(hold.asset, ZERO) + part

    def release(self, order_id: str) -> None:
        """The order is finished: whatever it still holds is free again."""
        hold = self._holds.pop(order_id, None)
        if hold is not None and hold.amount > 0:
            self._release(hold, hold.amount)
