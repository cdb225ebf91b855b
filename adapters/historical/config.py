"""The `type: historical` venue block: where the files are, what they hold, the instruments in them."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

import msgspec

from engine.venue.contract import VenueConfig

Kind = Literal["quotes", "trades", "bars"]
FileFormat = Literal["auto", "csv", "parquet"]
TsUnit = Literal["auto", "iso", "s", "ms", "us", "ns"]


class HistoricalInstrument(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One instrument in the files: `symbol` as the `instrument` column spells it."""

    symbol: str
    tick: Decimal
    lot: Decimal = Decimal(1)
    exchange: str = "SIM"
    base: str | None = None
    quote: str | None = None


class HistoricalConfig(VenueConfig, kw_only=True, forbid_unknown_fields=True):
    # a file, a folder (every .csv, .csv.gz and .parquet file in it) or a glob; relative paths are
    # taken from the working directory, like `journal:` and `state_dir:`
    path: str
    kind: Kind = "quotes"
    format: FileFormat = "auto"
    ts_unit: TsUnit = "auto"
    # bars only: the length of one bar (its `ts` is the bar's start), and the fill model's slippage
    bar_seconds: Annotated[int, msgspec.Meta(gt=0)] = 60
    slippage_ticks: Annotated[int, msgspec.Meta(ge=0)] = 0
    # the file's name for a column, when it differs: {bid: best_bid, ts: time}
    columns: dict[str, str] = {}
    batch_rows: Annotated[int, msgspec.Meta(gt=0)] = 65_536
    report_malformed: Annotated[int, msgspec.Meta(ge=0)] = 20  # rows logged one by one per file
    instruments: list[HistoricalInstrument] = []

    def __post_init__(self) -> None:  # checked when the config loads: one line, exit 2
        for i, inst in enumerate(self.instruments):
            if not (inst.tick > 0 and inst.lot > 0):
                raise ValueError(f"instruments[{i}] ({inst.symbol}): tick and lot must be positive")
