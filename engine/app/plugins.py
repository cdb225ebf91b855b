"""Finds venues and strategies by name (entry points), by `module:Class`, or by `path/file.py:Class`."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import tomllib
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from engine.errors import UserError

VENUE_GROUP = "tickbus.venues"
STRATEGY_GROUP = "tickbus.strategies"


class PluginError(UserError):
    pass


def available(group: str) -> dict[str, str]:
    """Registered plugin names and what they point to."""
    return {ep.name: ep.value for ep in _entry_points(group)}


def _entry_points(group: str) -> list[EntryPoint]:
    """The installed entry points, and over them this checkout's pyproject.toml: an editable
    install's metadata is only as new as its last `pip install -e .`."""
    found = {ep.name: ep for ep in entry_points(group=group)}
    for name, value in _declared().get(group, {}).items():
        found[name] = EntryPoint(name, value, group)
    return list(found.values())


@cache
def _declared() -> dict[str, dict[str, str]]:
    path = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        points = tomllib.loads(path.read_text(encoding="utf-8")).get("project", {}).get("entry-points", {})
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    return {g: dict(v) for g, v in points.items() if isinstance(v, dict)}


def load(group: str, ref: str, *, base_dir: Path | None = None, kind: str = "plugin") -> type[Any]:
    """The class `ref` names: an entry-point name, `module:Class` or `path/file.py:Class`."""
    if ":" not in ref:
        found = [ep for ep in _entry_points(group) if ep.name == ref]
        if not found:
            known = ", ".join(sorted(available(group))) or "none installed"
            raise PluginError(f"unknown {kind} {ref!r} (known: {known})")
        try:
            return found[0].load()
        except Exception as exc:
            raise PluginError(f"{kind} {ref!r} failed to load: {exc!r}") from exc
    target, _, attr = ref.rpartition(":")
    if target.endswith(".py"):
        module = _load_file(target, base_dir, kind)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise PluginError(f"{kind} {ref!r}: cannot import {target!r} ({exc})") from exc
        except Exception as exc:
            raise PluginError(f"{kind} {ref!r}: importing {target!r} failed: {exc!r}") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise PluginError(f"{kind} {ref!r}: {target!r} has no {attr!r}") from None


def _load_file(target: str, base_dir: Path | None, kind: str) -> Any:
    candidates = [Path(target)]
    if base_dir is not None and not Path(target).is_absolute():
        candidates.append(base_dir / target)
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise PluginError(f"{kind} file {target!r} not found")
    name = f"tickbus_user_{abs(hash(str(path.resolve())))}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise PluginError(f"{kind} file {target!r} failed to load: {exc!r}") from exc
    return module


def load_venue(ref: str) -> type[Any]:
    return load(VENUE_GROUP, ref, kind="venue")


def load_strategy(ref: str, base_dir: Path | None = None) -> type[Any]:
    return load(STRATEGY_GROUP, ref, base_dir=base_dir, kind="strategy")
