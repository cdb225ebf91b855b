"""What the venue suites share: bounded waits, an engine clock that reads an emulator's clock, and
the `run.py emulate` subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from adapters.simulation.exchange import EmulatorClock
from engine.clock import TimerHandle

TIMEOUT = 10.0  # the bound of any single wait: a bug fails the test instead of hanging it
REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")


async def bounded(awaitable: Awaitable[T], timeout: float = TIMEOUT) -> T:
    return await asyncio.wait_for(awaitable, timeout)


async def until(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Wait until `predicate()` holds, failing after `timeout`."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


class EmulatorTime:
    """An engine Clock reading an emulator's clock (moving it moves the venue's time at once);
    timers run in real time."""

    def __init__(self, clock: EmulatorClock) -> None:
        self.clock = clock

    def now_ns(self) -> int:
        return self.clock.now_ns()

    def call_later(self, delay_s: float, fn: Callable[..., Any], *args: Any) -> TimerHandle:
        return asyncio.get_running_loop().call_later(max(delay_s, 0.0), fn, *args)

    async def sleep(self, delay_s: float) -> None:
        await asyncio.sleep(max(delay_s, 0.0))


class EmulateProcess:
    """`python run.py emulate VENUE` as a child: its first stdout line, then its exit and stderr."""

    def __init__(self, proc: asyncio.subprocess.Process, info: dict[str, Any]) -> None:
        self.proc = proc
        self.info = info
        self.returncode: int | None = None
        self.stderr = ""

    async def terminate(self) -> int:
        """SIGTERM, then the exit code and everything it wrote to stderr."""
        self.proc.send_signal(signal.SIGTERM)
        self.returncode = await bounded(self.proc.wait(), 15)
        assert self.proc.stderr is not None
        self.stderr = (await bounded(self.proc.stderr.read())).decode()
        return self.returncode


@contextlib.asynccontextmanager
async def emulate(venue: str, *args: str) -> AsyncIterator[EmulateProcess]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "run.py", "emulate", venue, "--port", "0", *args,
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(await bounded(proc.stdout.readline(), 20))
        yield EmulateProcess(proc, info)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
