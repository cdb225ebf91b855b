"""Freeze-quantity slicing: an order above what the exchange accepts at once, as slices it does."""

from __future__ import annotations

from decimal import Decimal


def freeze_slices(qty: Decimal, freeze_qty: Decimal, lot: Decimal) -> list[Decimal]:
    """`qty` as slices of at most the freeze quantity (rounded down to whole lots), largest first."""
    step = (freeze_qty // lot) * lot if lot > 0 else freeze_qty
    if step <= 0:
        return [qty]
    full, rest = divmod(qty, step)
    return [step] * int(full) + ([rest] if rest else [])
