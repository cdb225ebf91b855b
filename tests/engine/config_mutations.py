"""Mutated configs: the shipped configs with a few values, keys or shapes changed at random.

`check_one` loads one through the same path `run.py check` takes; a user's mistake must end as a
`UserError` (one line, exit 2), never as another exception.
"""

from __future__ import annotations

import copy
import json
import random
import traceback
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from engine.app.commands import describe
from engine.app.config import load_config, read_yaml
from engine.errors import UserError

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))

ODD_VALUES: list[Any] = [
    float("nan"), float("inf"), float("-inf"), Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"),
    Decimal("1e400"), Decimal("-1e400"), Decimal("1e-400"), 10**30, -(10**30), -1, 0, Decimal("-0.0001"),
    "", "nan", "inf", "-Infinity", "1e999", "${TICKBUS_UNSET_VAR}", "${TICKBUS_UNSET_VAR:-.nan}",
    None, [], {}, True, "abc", [1, 2], {"x": 1}, 1e308, "2026-13-45T99:99:99", "NSE:", ":", "::",
]


class _Dumper(yaml.SafeDumper):
    pass


def _decimal(dumper: yaml.SafeDumper, value: Decimal) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:float", str(value))


_Dumper.add_representer(Decimal, _decimal)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*prefix, i))
    return out


def _is_number(value: Any) -> bool:
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return True
    try:
        Decimal(str(value))
    except ArithmeticError:
        return False
    return isinstance(value, str)


def _parent(root: Any, path: tuple[Any, ...]) -> Any:
    for seg in path[:-1]:
        root = root[seg]
    return root


def mutate(raw: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """One to three changes: a value replaced by an odd one, a key removed, an unknown key added."""
    data = json.loads(json.dumps(raw, default=str))  # a deep copy that the changes cannot reach back through
    for _ in range(rng.choices((1, 2, 3), weights=(6, 3, 1))[0]):
        paths = _paths(data)
        if not paths:
            break
        numbers = [p for p in paths if _is_number(_parent(data, p)[p[-1]])]
        # numbers most of the time: they are where a decoded value meets arithmetic
        path = rng.choice(numbers if numbers and rng.random() < 0.6 else paths)
        parent, last = _parent(data, path), path[-1]
        kind = rng.random()
        if kind < 0.75:
            parent[last] = copy.deepcopy(rng.choice(ODD_VALUES))
        elif kind < 0.9 and isinstance(parent, dict):
            del parent[last]
        elif isinstance(parent, dict):
            parent[f"{last}_typo"] = copy.deepcopy(rng.choice(ODD_VALUES))
    return data


def check_one(data: dict[str, Any], workdir: Path) -> str | None:
    """None when the config loads or is refused with one line; else the traceback."""
    path = workdir / "mutated.yaml"
    path.write_text(yaml.dump(data, Dumper=_Dumper, sort_keys=False), encoding="utf-8")
    try:
        json.dumps(describe(load_config(path)), default=str)
    except UserError as exc:
        if "\n" in str(exc):
            return f"a refusal of more than one line: {exc}"
    except Exception:  # noqa: BLE001 - anything else is what the campaign looks for
        return traceback.format_exc()
    return None


def campaign(count: int, workdir: Path, seed: int = 1) -> list[tuple[str, dict[str, Any], str]]:
    """`count` mutated configs; the (config file, mutated data, traceback) of each crash."""
    rng = random.Random(seed)
    originals = {str(p): read_yaml(p) for p in CONFIGS}
    crashes = []
    for _ in range(count):
        name = rng.choice(sorted(originals))
        data = mutate(originals[name], rng)
        found = check_one(data, workdir)
        if found is not None:
            crashes.append((name, data, found))
    return crashes
