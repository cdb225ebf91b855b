"""The recorder: every Quote, Trade and Bar the venues feed, to Parquet in the historical venue's
layout (`layout.py`), so a recording is a backtest's data as it is.

On the hot path it is one direct bus subscriber whose handler is a list's `append`: no formatting,
no copy, no await. A task swaps the buffer out every `flush_s` (sooner when `max_rows` wait) and
hands it to a thread (`asyncio.to_thread`) that converts and appends it to the partitions' files;
one flush at a time. `stop()` unsubscribes, flushes what is left and closes every file, so nothing
published before the stop is lost.

Bars are recorded when a venue publishes them (under the instrument's id, as a live feed does, or
under (instrument, seconds, "venue") as a replay does); bars the engine aggregates itself from
quotes or trades for a strategy are not market data a venue fed and are left out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa
import structlog

from engine.data.bus import Bus, Subscription
from engine.events import Bar, Quote, Trade
from engine.record.config import RecordConfig, prepare_dir
from engine.record.sink import PartitionSink

log = structlog.get_logger("tickbus.record")
VENUE_BARS = "venue"


class Recorder:
    def __init__(self, config: RecordConfig, bus: Bus, *, where: str) -> None:
        self.config = config
        self.bus = bus
        self.root = prepare_dir(config.dir, where)
        self.sink = PartitionSink(self.root, roll_s=config.roll_s)
        self.lost = 0  # rows a failed write dropped (each failure logged)
        self._rows: list[Quote | Trade | Bar] = []
        self._subs: list[Subscription] = []
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def start(self, bar_keys: Sequence[Any]) -> None:
        """Subscribe (quotes and trades of every instrument; the venues' bars under `bar_keys`)
        and start the flushing task."""
        append = self._rows.append
        self._subs.append(self.bus.subscribe((Quote, Trade), append, name="recorder"))
        if bar_keys:
            self._subs.append(self.bus.subscribe(Bar, append, keys=bar_keys, name="recorder"))
        self._task = asyncio.get_running_loop().create_task(self._run(), name="recorder")

    @staticmethod
    def bar_keys(instruments: Iterable[str], replayed: dict[str, int | None]) -> list[Any]:
        """The keys venues publish their bars under: the id (live feeds), and (id, seconds, "venue")
        for a venue that replays bars (`replayed`: venue -> its bar length)."""
        keys: list[Any] = []
        for iid in instruments:
            keys.append(iid)
            seconds = replayed.get(iid.partition(":")[0])
            if seconds is not None:
                keys.append((iid, seconds, VENUE_BARS))
        return keys

    async def _run(self) -> None:
        last = time.monotonic()
        tick = min(self.config.flush_s, 1.0)
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._stopping.wait(), tick)
            except TimeoutError:
                pass
            if time.monotonic() - last >= self.config.flush_s or len(self._rows) >= self.config.max_rows:
                await self.flush()
                last = time.monotonic()

    async def flush(self) -> None:
        """Write what is buffered (in a thread); a failure is logged and its rows counted as lost."""
        async with self._lock:
            if not self._rows:
                return
            rows = self._rows.copy()
            self._rows.clear()
            try:
                await asyncio.to_thread(self.sink.write, rows)
            except Exception as exc:  # noqa: BLE001 - a failed write (disk full, say) must not end the run
                self.lost += len(rows)
                log.error("recording failed: rows lost", rows=len(rows), dir=str(self.root), error=str(exc))

    async def stop(self) -> None:
        """Unsubscribe, write what is left, close every file."""
        for sub in self._subs:
            sub.cancel()
        self._subs = []
        self._stopping.set()
        started, self._task = self._task, None
        if started is not None:
            await started
        await self.flush()
        async with self._lock:
            try:
                await asyncio.to_thread(self.sink.close)
            except (OSError, pa.ArrowException) as exc:
                log.error("recording: closing files failed", dir=str(self.root), error=str(exc))
        if started is None:
            return  # never started (the run's start failed): nothing to tell
        log.info("recorded", dir=str(self.root), **self.summary()["rows"], files=len(self.sink.stats.files),
                 moved=self.sink.stats.moved or None, lost=self.lost or None)

    def summary(self) -> dict[str, Any]:
        stats = self.sink.stats
        return {"dir": str(self.root), "rows": dict(stats.rows), "files": len(stats.files), "moved": stats.moved,
                "lost": self.lost}
