"""The journal of a run that keeps none (a backtest's default): the same records as `Journal`,
held as the immutable Structs they are, in lists and dicts.

A journal in memory has nothing to make durable, so nothing is encoded and there is no database:
encoding every snapshot and inserting it into SQLite in memory was a fifth of a backtest's cost
per order. Readers (`load`, `record`, `recall`) get what the SQLite journal would give them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from engine.orders.journal import _KINDS, EquityRow, JournalRecord, JournalState, Retired, RunRow, state_of


class MemoryJournal:
    """Append-only, in memory; `commit()` has nothing to do."""

    path: Path | None = None

    def __init__(self) -> None:
        self.written = 0
        self.commits = 0
        self.commit_seconds = 0.0
        self._rows: list[tuple[str, str | None, Any]] = []  # (kind, client order id, Struct), in order
        self._equity: list[EquityRow] = []
        self._retired: dict[str, Retired] = {}
        self._retired_by_venue_id: dict[tuple[str, str], Retired] = {}
        self._runs: dict[int, RunRow] = {}

    def write(self, ts_ns: int, records: Iterable[tuple[str, str | None, Any]]) -> None:
        rows = self._rows
        before = len(rows)
        for record in records:
            if record[0] not in _KINDS:
                raise ValueError(f"unknown journal record kind {record[0]!r}")
            rows.append(record)  # Structs are frozen: the record is the snapshot
        self.written += len(rows) - before

    def write_equity(self, rows: Iterable[EquityRow]) -> None:
        self._equity.extend(rows)

    @property
    def uncommitted(self) -> bool:
        return False

    def commit(self) -> None:
        return None

    def load(self) -> JournalState:
        return state_of((kind, body) for kind, _, body in self._rows)

    def retire(self, records: Iterable[Retired]) -> None:
        for record in records:
            order = record.order
            self._retired[order.client_order_id] = record
            if order.venue_order_id is not None:
                self._retired_by_venue_id[(order.venue, order.venue_order_id)] = record

    def recall(self, venue: str, client_order_id: str | None, venue_order_id: str | None) -> Retired | None:
        found = None if client_order_id is None else self._retired.get(client_order_id)
        if found is None and venue_order_id is not None:
            found = self._retired_by_venue_id.get((venue, venue_order_id))
        return found

    def holds_ids_from(self, prefix: str) -> bool:
        return any(coid.startswith(prefix) for coid in self._retired) or any(
            coid is not None and coid.startswith(prefix) for _, coid, _ in self._rows
        )

    def write_run(self, started_ns: int, config: str) -> None:
        self._runs[started_ns] = RunRow(started_ns, config, None)

    def record(self) -> JournalRecord:
        fills = [body for kind, _, body in self._rows if kind == "fill"]
        return JournalRecord(fills=fills, equity=list(self._equity), runs=[self._runs[k] for k in sorted(self._runs)])

    def close(self) -> None:
        return None
