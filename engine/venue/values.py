"""Values from a venue, checked where they cross into the engine (every venue's schemas use these).

A venue's answer is decoded into msgspec Structs; what the decoder cannot type by itself is checked
here, on decode, so nothing after a successful decode meets a value it cannot compute with:

- every `Decimal` field holds a finite number of sane magnitude (no NaN, sNaN, Infinity, 1e999999:
  Decimal arithmetic on those raises `InvalidOperation` or `Overflow` far from the wire);
- fields a venue writes as numbers in strings (`text_numbers`) hold one, or one of the venue's
  words for nothing;
- ISO-8601 times (`iso_times`) parse, within datetime's range;
- `non_negative` fields (sizes and prices of fills) are not below zero.

`Checked` is the Struct base that does it: its `__post_init__` raises `ValueError`, which msgspec
turns into a `ValidationError`, which the REST client turns into the project's `VenueError` and a
feed counts and drops as a malformed frame. Numeric ranges msgspec checks itself go through
`Meta` (`EpochSeconds`, `Scale`). A value found bad later, by a parser, is `BadValue`; text that
is no number, `NotANumber`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, ClassVar, get_args

import msgspec

from engine.errors import VenueError

MAX_EXPONENT = 40  # a nonzero amount, price or quantity is within 1e-40 .. 1e41
MAX_EPOCH_S = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second a datetime holds
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

EpochSeconds = Annotated[float, msgspec.Meta(ge=0, le=MAX_EPOCH_S)]
"""A time in epoch seconds (fractions allowed): times NS stays an int."""
EpochMillis = Annotated[int, msgspec.Meta(ge=0, le=MAX_EPOCH_S * 1000)]
Scale = Annotated[int, msgspec.Meta(ge=0, le=18)]
"""A number of decimal places (an asset's scale): 10**-scale stays exact at Decimal's precision."""


class NotANumber(ValueError):
    """Text that should hold a finite number of sane magnitude and does not (a ValueError, so a
    Struct's check is msgspec's ValidationError; a feed counts and drops the message it is in)."""


class BadValue(VenueError):
    """A value a venue sent that means nothing (a side it does not define, a time that is none):
    the answer is refused, or the message counted, logged and dropped."""


def decimal_problem(value: Decimal) -> str | None:
    """Why `value` cannot be an amount, price or quantity, or None when it can."""
    if not value.is_finite():
        return "not a finite number"
    if value and not -MAX_EXPONENT <= value.adjusted() <= MAX_EXPONENT:
        return "out of range"
    return None


def finite_decimal(text: str) -> Decimal:
    """`text` as a finite Decimal of sane magnitude; ValueError otherwise."""
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError, TypeError):
        raise NotANumber(f"{text[:40]!r} is not a number") from None
    problem = decimal_problem(value)
    if problem is not None:
        raise NotANumber(f"{text[:40]!r} is {problem}")
    return value


def iso_ns(text: str) -> int:
    """Epoch nanoseconds of an ISO-8601 time (naive = UTC); ValueError if it is none."""
    try:
        dt = datetime.fromisoformat(text)
        aware = dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
        return (aware - _EPOCH) // timedelta(microseconds=1) * 1000
    except (ValueError, OverflowError, TypeError):
        raise ValueError(f"{text[:40]!r} is not an ISO-8601 time") from None


class Checked(msgspec.Struct):
    """A wire Struct checked on decode (see the module docstring); subclasses name their
    `text_numbers`, `iso_times` and `non_negative` fields, and may override `read_number` (how the
    venue writes a number in a string; None for its words for nothing)."""

    text_numbers: ClassVar[tuple[str, ...]] = ()
    iso_times: ClassVar[tuple[str, ...]] = ()
    non_negative: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def read_number(cls, text: str) -> Decimal | None:
        return finite_decimal(text) if text else None

    def __post_init__(self) -> None:
        names = _DECIMAL_FIELDS.get(self.__class__)
        if names is None:
            names = _DECIMAL_FIELDS[self.__class__] = _decimal_fields(self.__class__)
        for name in names:
            value = getattr(self, name)
            if value.__class__ is Decimal:  # None, or an int a caller built the Struct with, needs no check
                problem = decimal_problem(value)
                if problem is not None:
                    raise ValueError(f"{name}: {problem}")
        for name in self.text_numbers:
            self.read_number(getattr(self, name))
        for name in self.iso_times:
            text = getattr(self, name)
            if text is not None:
                iso_ns(text)
        for name in self.non_negative:
            value = getattr(self, name)
            if isinstance(value, str):
                value = self.read_number(value)
            if value is not None and value < 0:
                raise ValueError(f"{name}: negative")


_DECIMAL_FIELDS: dict[type, tuple[str, ...]] = {}  # a Checked class -> its Decimal fields, found once


def _decimal_fields(cls: type[msgspec.Struct]) -> tuple[str, ...]:
    """The fields of `cls` typed Decimal (or Decimal | None)."""
    return tuple(f.name for f in msgspec.structs.fields(cls) if f.type is Decimal or Decimal in get_args(f.type))
