"""Connecting to NATS with the config's options, and the two JetStream streams the split uses."""

from __future__ import annotations

from typing import Any

import structlog

from engine.bridge.config import NatsConfig, connect_options
from engine.bridge.subjects import Subjects
from engine.errors import UserError

log = structlog.get_logger("tickbus.bridge")


def _nats() -> Any:
    try:
        import nats
    except ImportError:
        raise UserError("--role needs nats-py: pip install -e '.[nats]'") from None
    return nats


async def connect(cfg: NatsConfig, role: str) -> Any:
    """A connection that reconnects by itself; its state changes are logged."""
    nats = _nats()

    async def disconnected() -> None:
        log.warning("nats disconnected, reconnecting", role=role)

    async def reconnected() -> None:
        log.info("nats reconnected", role=role)

    async def error(exc: Exception) -> None:
        log.warning("nats error", role=role, error=repr(exc))

    options = connect_options(cfg)
    options["name"] = options["name"] or f"tickbus-{role}"
    try:
        return await nats.connect(
            **options, disconnected_cb=disconnected, reconnected_cb=reconnected, error_cb=error,
        )
    except Exception as exc:  # noqa: BLE001 - no server (yet): one line for the user
        raise UserError(f"bus.nats.url: cannot connect to {cfg.url}: {exc!r}") from None


async def ensure_streams(js: Any, cfg: NatsConfig, subjects: Subjects) -> None:
    """The command stream (de-duplicated by message id) and the order-event stream."""
    from nats.js.api import RetentionPolicy, StorageType, StreamConfig

    storage = StorageType.FILE if cfg.storage == "file" else StorageType.MEMORY
    for name, subject, retention in (
        (subjects.cmd_stream, subjects.cmd_all, RetentionPolicy.WORK_QUEUE),
        (subjects.evt_stream, subjects.evt_all, RetentionPolicy.LIMITS),
    ):
        config = StreamConfig(
            name=name, subjects=[subject], retention=retention, storage=storage,
            duplicate_window=cfg.duplicate_window_s, max_age=cfg.events_max_age_s,
        )
        try:
            await js.add_stream(config)
        except Exception:  # noqa: BLE001 - it exists with other settings: bring them to these
            await js.update_stream(config)
