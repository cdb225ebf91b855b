"""A virtual account: balances per asset, funds held for working orders, fees on every fill."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from engine.events import ZERO, Instrument, OrderType, Side

_BPS = Decimal(10_000)


class FeeSchedule(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Fee per fill: `bps` of the notional (maker fills may have their own), at least `minimum`."""

    bps: Decimal = ZERO
    maker_bps: Decimal | None = None
    minimum: Decimal = ZERO

    def fee(self, notional: Decimal, liquidity: str = "taker") -> Decimal:
        rate = self.maker_bps if liquidity == "maker" and self.maker_bps is not None else self.bps
        return max(notional * rate / _BPS, self.minimum) if notional > 0 else ZERO


class Hold(msgspec.Struct):
    asset: str
    amount: Decimal


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
        if side is Side.BUY:
            asset = inst.quote
            if notional is not None:
                amount = notional
            else:
                px = price if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else reference
                if px is None:
                    return "no price to value the order"
                if order_type in (OrderType.MARKET, OrderType.STOP_MARKET):
                    px = px * (1 + self.market_buffer)
                gross = qty * px
                amount = gross + self.fees.fee(gross)
        else:
            asset = inst.base
            amount = qty
            if self.allow_short:
                self._holds[order_id] = Hold(asset, ZERO)
                return None
        free = self.free.get(asset, ZERO)
        if amount > free:
            return f"insufficient funds: {amount} {asset} needed, {free} available"
        self.free[asset] = free - amount
        self.locked[asset] = self.locked.get(asset, ZERO) + amount
        self._holds[order_id] = Hold(asset, amount)
        return None

    def settle(
        self,
        order_id: str,
        inst: Instrument,
        side: Side,
        qty: Decimal,
        price: Decimal,
        liquidity: str,
    ) -> Decimal:
        """Apply one fill; returns the fee charged (in the quote currency)."""
        gross = qty * price
        fee = self.fees.fee(gross, liquidity)
        hold = self._holds.get(order_id)
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
