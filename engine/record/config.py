"""What a recording is asked for (`record:`), resolved against a run, and its output folder: the
parts a run and the command line need without loading the Parquet writer (`recorder.py`)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import msgspec

from engine.errors import ConfigError, UserError


class RecordConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`record: {dir: ..., flush_s: ...}`: record the run's market data under `dir`."""

    dir: str
    flush_s: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    # recorded besides the strategies' instruments (the venues are asked for them): ids, or
    # "venue:*" for every instrument of a venue
    instruments: list[str] = []
    max_rows: Annotated[int, msgspec.Meta(gt=0)] = 200_000  # rows buffered before a flush comes early
    # seconds a file stays open before the next rows go to a new one (<symbol>~002.parquet, ...): a run
    # killed outright (SIGKILL, power) loses at most this much; null keeps one file a day
    roll_s: Annotated[float, msgspec.Meta(gt=0)] | None = 3600.0


def wanted_instruments(config: RecordConfig, known: Iterable[str], file: str) -> list[str]:
    """`record.instruments` resolved against the run's instruments; an unknown one is one line."""
    ids = sorted(known)
    out: list[str] = []
    for i, spec in enumerate(config.instruments):
        venue, _, symbol = spec.partition(":")
        found = [iid for iid in ids if iid.partition(":")[0] == venue] if symbol == "*" else [spec] if spec in ids else []
        if not found:
            sample = ", ".join(iid for iid in ids if iid.startswith(venue + ":"))[:200] or "none"
            raise ConfigError(file, f"record.instruments[{i}]", f"no instrument {spec!r} in this run (venue {venue} has: {sample})")
        out += [iid for iid in found if iid not in out]
    return out


def prepare_dir(path: str | Path, where: str) -> Path:
    """The output folder, made if missing and proven writable; else one line naming `where`."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".tickbus-probe-"):
            pass
    except FileExistsError:
        raise UserError(f"{where}: cannot write to {path}: it is a file, not a folder") from None
    except OSError as exc:
        raise UserError(f"{where}: cannot write to {path}: {exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{where}: cannot write to {path}: permission denied")
    return folder
