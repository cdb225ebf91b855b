"""A split run for the tests: a config joined to the fixture's server, and `run.py --role ...`
processes whose logs go to files the tests read while they run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TICKER = str(Path(__file__).with_name("ticker.py"))
WAIT_S = 60.0  # the bound of any wait here: a hang fails the test


def split_config(tmp: Path, url: str, strategies: dict[str, dict[str, Any]], *, latency_ms: int = 20,
                 name: str = "split.yaml") -> Path:
    config = {
        "mode": "paper", "name": "split", "progress_s": 0, "start": "2026-11-20T09:30:00+05:30", "state_dir": str(tmp / "var"),
        "journal": str(tmp / "var" / "journal.sqlite"),
        "venues": {"sim": {"type": "synthetic", "seed": 7, "interval_ms": 50, "instruments": [
            {"symbol": "NSE:RELIANCE", "price": 1290.5, "tick": 0.05, "size": 400, "move_prob": 0.5},
            {"symbol": "NSE:INFY", "price": 1512.4, "tick": 0.05, "size": 300, "move_prob": 0.5}]}},
        "paper": {"balances": {"INR": 1000000}, "fees": {"bps": 3, "minimum": 5}, "latency_ms": latency_ms},
        "strategies": [{"name": n, "plugin": f"{TICKER}:Ticker", "instruments": [p.pop("instrument")], "params": p}
                       for n, p in strategies.items()],
        "risk": {"max_orders_per_second": 50},
        "bus": {"nats": {"url": url, "stream": "test"}},
    }
    path = tmp / name
    path.write_text(yaml.safe_dump(config))
    return path


class Role:
    """One `run.py CONFIG --role ...` child."""

    def __init__(self, tmp: Path, label: str, config: Path, *args: str) -> None:
        self.out = tmp / f"{label}.out"
        self.err = tmp / f"{label}.err"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "run.py", str(config), "--log-format", "json", *args],
                cwd=ROOT, stdout=out, stderr=err,
            )

    def logs(self) -> list[dict[str, Any]]:
        lines = self.err.read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def events(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.logs() if r.get("event") == name]

    def wait_for(self, predicate: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {WAIT_S:g}s: {what}; stderr: {self.err.read_text()[-3000:]}")
            if self.proc.poll() is not None and not predicate():
                raise AssertionError(f"exited {self.proc.returncode} before: {what}; {self.err.read_text()[-3000:]}")
            time.sleep(0.05)

    def summary(self) -> dict[str, Any]:
        """Its exit (bounded) and the summary it printed."""
        code = self.proc.wait(timeout=WAIT_S)
        assert code == 0, self.err.read_text()[-3000:]
        return json.loads(self.out.read_text().splitlines()[-1])

    def stop(self) -> dict[str, Any]:
        os.kill(self.proc.pid, signal.SIGTERM)
        return self.summary()

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=WAIT_S)

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=WAIT_S)
