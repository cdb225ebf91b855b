"""Columns of one record batch -> numpy arrays in engine units, in bulk; rows that do not convert
are marked, never guessed.

Timestamps become integer nanoseconds since the epoch: an Arrow timestamp column as it is (a
naive one read as UTC), integers as epoch seconds, ms, us or ns (given, or told apart by their
size), strings as ISO-8601 with an offset (`2026-12-07T09:15:00+05:30`, `...Z`) or as epoch
integers. Prices and sizes become float64 and must be finite and not negative.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from adapters.historical.config import Kind, TsUnit
from engine.events import Side

REQUIRED: dict[Kind, tuple[str, ...]] = {
    "quotes": ("ts", "instrument", "bid", "ask", "bid_size", "ask_size"),
    "trades": ("ts", "instrument", "price", "size"),
    "bars": ("ts", "instrument", "open", "high", "low", "close", "volume"),
}
OPTIONAL: dict[Kind, tuple[str, ...]] = {"quotes": (), "trades": ("side",), "bars": ()}
NUMBERS: dict[Kind, tuple[str, ...]] = {kind: names[2:] for kind, names in REQUIRED.items()}

_UNIT_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
_ISO_NS = pa.timestamp("ns", tz="UTC")
_SIDES = {"buy": Side.BUY, "b": Side.BUY, "bid": Side.BUY, "sell": Side.SELL, "s": Side.SELL, "ask": Side.SELL}


def epoch_unit(value: int) -> str:
    """The unit of an epoch integer told by its size: seconds up to 1e11 (year 5138), then ms, us, ns."""
    size = abs(value)
    if size < 100_000_000_000:
        return "s"
    if size < 100_000_000_000_000:
        return "ms"
    if size < 100_000_000_000_000_000:
        return "us"
    return "ns"


@dataclass
class Parsed:
    """One batch converted: `ok` marks the rows to replay; `bad` says why each other row is not."""

    ts: np.ndarray
    codes: np.ndarray  # index into the venue's instruments, -1 for a symbol it does not declare
    numbers: dict[str, np.ndarray]
    sides: list[Side | None] | None
    ok: np.ndarray
    bad: dict[int, str] = field(default_factory=dict)
    unknown: dict[str, int] = field(default_factory=dict)  # undeclared symbol -> rows


class TsDecoder:
    """Per file: the `ts` column to nanoseconds, the epoch unit settled by the first value seen."""

    def __init__(self, unit: TsUnit) -> None:
        self.unit = unit

    def decode(self, col: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """(ns, valid)."""
        kind = col.type
        if pa.types.is_timestamp(kind):
            ns = pc.cast(col, pa.timestamp("ns", tz=kind.tz)) if kind.unit != "ns" else col
            return _ints(ns.cast(pa.int64()))
        if pa.types.is_integer(kind) or pa.types.is_floating(kind):
            return self._epoch(col)
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            if self.unit == "iso" or (self.unit == "auto" and _looks_iso(col)):
                return _iso(col)
            return self._epoch(_cast_each(col, pa.int64()))
        raise TypeError(f"ts: cannot read a column of type {kind}")

    def _epoch(self, col: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        values, valid = _ints(col) if pa.types.is_integer(col.type) else _floats_as_ints(col)
        unit = self.unit
        if unit in ("auto", "iso"):
            first = np.flatnonzero(valid)
            if not len(first):
                return values, valid
            unit = self.unit = epoch_unit(int(values[first[0]]))  # type: ignore[assignment]
        return values * _UNIT_NS[unit], valid


def _looks_iso(col: pa.Array) -> bool:
    valid = col.drop_null()
    return bool(len(valid)) and "-" in str(valid[0].as_py())[1:]


def _ints(col: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    valid = _valid(col)
    return col.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64, copy=False), valid


def _floats_as_ints(col: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    values = pc.cast(col, pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)
    valid = np.isfinite(values)
    return np.where(valid, values, 0).astype(np.int64), valid


def _valid(col: pa.Array) -> np.ndarray:
    if col.null_count == 0:
        return np.ones(len(col), dtype=bool)
    return col.is_valid().to_numpy(zero_copy_only=False)


def _iso(col: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    return _ints(_cast_each(col, _ISO_NS).cast(pa.int64()))


def _cast_each(col: pa.Array, to: pa.DataType) -> pa.Array:
    """`col` cast in bulk; if one value does not convert, value by value, the failures as nulls."""
    try:
        return pc.cast(col, to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        out = []
        for value in col:
            try:
                out.append(pc.cast(pa.array([value.as_py()], col.type), to)[0].as_py())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                out.append(None)
        return pa.array(out, to)


def numbers(col: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values, valid): finite and not negative."""
    if not pa.types.is_floating(col.type) or col.type != pa.float64():
        col = _cast_each(col, pa.float64())
    values = col.fill_null(np.nan).to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        return values, np.isfinite(values) & (values >= 0)


def codes(col: pa.Array, index: Mapping[str, int]) -> tuple[np.ndarray, dict[str, int]]:
    """Each row's instrument as an index into the venue's instruments (-1: undeclared or empty),
    and the undeclared symbols with their row counts."""
    encoded = col if pa.types.is_dictionary(col.type) else pc.dictionary_encode(col)
    symbols = [str(s) for s in encoded.dictionary.to_pylist()]
    lut = np.array([index.get(s, -1) for s in symbols] + [-1], dtype=np.int64)
    raw = encoded.indices.fill_null(len(symbols)).to_numpy(zero_copy_only=False)
    found = lut[raw]
    unknown: dict[str, int] = {}
    missing = [i for i, s in enumerate(symbols) if s not in index]
    if missing:
        counts = np.bincount(raw, minlength=len(symbols) + 1)
        unknown = {symbols[i]: int(counts[i]) for i in missing if counts[i]}
    return found, unknown


def sides(col: pa.Array) -> tuple[list[Side | None], np.ndarray]:
    """The optional `side` column: buy/b/bid or sell/s/ask, any case; empty means unknown."""
    words = pc.utf8_lower(pc.utf8_trim_whitespace(_cast_each(col, pa.string()))).to_pylist()
    out = [None if not w else _SIDES.get(w) for w in words]
    valid = np.array([not w or s is not None for w, s in zip(words, out, strict=True)], dtype=bool)
    return out, valid


def parse(batch: pa.RecordBatch, kind: Kind, names: Mapping[str, str], index: Mapping[str, int],
          decoder: TsDecoder) -> Parsed:
    """Convert one batch; `names` maps a layout column to the file's name for it."""
    ts, ok = decoder.decode(batch.column(names["ts"]))
    bad: dict[int, str] = {}
    _mark(bad, ok, "ts is not a time")
    inst, unknown = codes(batch.column(names["instrument"]), index)
    ok &= inst >= 0
    values: dict[str, np.ndarray] = {}
    for name in NUMBERS[kind]:
        values[name], valid = numbers(batch.column(names[name]))
        _mark(bad, valid, f"{name} is not a number >= 0")
        ok &= valid
    side_list = None
    if "side" in names:
        side_list, valid = sides(batch.column(names["side"]))
        _mark(bad, valid, "side is not buy or sell")
        ok &= valid
    if kind == "bars":
        hi, lo = values["high"], values["low"]
        with np.errstate(invalid="ignore"):
            valid = (lo <= values["open"]) & (values["open"] <= hi) & (lo <= values["close"]) & (values["close"] <= hi)
        _mark(bad, valid | ~ok, "open and close must lie within low and high")
        ok &= valid
    return Parsed(ts=ts, codes=inst, numbers=values, sides=side_list, ok=ok, bad=bad, unknown=unknown)


def _mark(bad: dict[int, str], valid: np.ndarray, reason: str) -> None:
    if not valid.all():
        for i in np.flatnonzero(~valid).tolist():
            bad.setdefault(i, reason)


def resolve_columns(present: Sequence[str], kind: Kind, renames: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The layout column -> the file's column, and the required ones the file lacks."""
    have = set(present)
    names: dict[str, str] = {}
    missing: list[str] = []
    for name in REQUIRED[kind]:
        actual = renames.get(name, name)
        if actual in have:
            names[name] = actual
        else:
            missing.append(actual)
    for name in OPTIONAL[kind]:
        actual = renames.get(name, name)
        if actual in have:
            names[name] = actual
    return names, missing


def first_valid_ts(values: Any) -> int | None:
    """The first timestamp of a decoded column that converted, or None."""
    ts, valid = values
    found = np.flatnonzero(valid)
    return int(ts[found[0]]) if len(found) else None
