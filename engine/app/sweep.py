"""`run.py sweep CONFIG --param PATH=SPEC ...`: the backtest of every combination of parameters (or
a random sample of them), each in a process of its own across the cores, ranked by a metric.

PATH names a value in the config: `strategies[0].params.fast`, `strategies.sma.params.fast` (by
strategy name) or any dotted path (`paper.latency_ms`). SPEC is `3:10` (3 to 10), `3:10:2` (a step),
`0.1:0.5:0.1` (decimals), or a list `5,8,13`. With `--split F` (0 < F < 1) and `--from`/`--to`, each
combination is backtested on the first fraction F of the time (in sample) and on the rest (out of
sample), ranked by the in-sample figure with the out-of-sample one beside it: walk-forward in one step.
Writes `sweep.csv` and `sweep.html` (self-contained) to `--out`.
"""

from __future__ import annotations

import copy
import csv
import html
import itertools
import json
import os
import random
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from engine.app.config import read_yaml
from engine.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
RUN_PY = ROOT / "run.py"
MAX_COMBINATIONS = 10_000
_STEP = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?")


def _num(text: str, where: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise UserError(f"--param {where}: {text!r} is not a number") from None
    if not value.is_finite():
        raise UserError(f"--param {where}: {text!r} is not a finite number")
    return value


def _instant(text: str, flag: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(f"{flag}: not an ISO-8601 time: {text!r}") from None
    if when.tzinfo is None:
        raise UserError(f"{flag}: give the offset, e.g. {text}+05:30")
    return when


def _jsonable(value: Any) -> str:
    """What YAML read as dates and times, written back as ISO-8601."""
    return value.isoformat() if isinstance(value, datetime | date) else str(value)


def _plain(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def parse_param(text: str) -> tuple[str, list[Any]]:
    """`PATH=SPEC` -> (PATH, the values)."""
    path, sep, spec = text.partition("=")
    if not sep or not path or not spec:
        raise UserError(f"--param {text!r}: expected PATH=SPEC, e.g. strategies[0].params.fast=3:10")
    if ":" in spec:
        parts = spec.split(":")
        if len(parts) not in (2, 3):
            raise UserError(f"--param {path}: a range is START:STOP or START:STOP:STEP, got {spec!r}")
        start, stop = _num(parts[0], path), _num(parts[1], path)
        step = _num(parts[2], path) if len(parts) == 3 else Decimal(1)
        if step <= 0 or stop < start:
            raise UserError(f"--param {path}: {spec!r} is an empty range (START <= STOP, STEP > 0)")
        count = int((stop - start) / step) + 1
        if count > MAX_COMBINATIONS:
            raise UserError(f"--param {path}: {spec!r} has {count} values, more than {MAX_COMBINATIONS}")
        return path, [_plain(start + i * step) for i in range(count)]
    values: list[Any] = []
    for item in spec.split(","):
        item = item.strip()
        try:
            values.append(_plain(_num(item, path)))
        except UserError:
            values.append(item)  # a word (a strategy's mode, say)
    return path, values


def set_path(config: dict[str, Any], path: str, value: Any) -> None:
    """Set `path` in a config mapping; a path that names nothing there is a one-line mistake."""
    node: Any = config
    steps = path.split(".")
    for i, step in enumerate(steps):
        m = _STEP.fullmatch(step)
        if m is None:
            raise UserError(f"--param {path}: {step!r} is not a config key")
        key, index = m.group(1), m.group(2)
        last = i == len(steps) - 1 and index is None
        if key == "strategies" and index is None and i + 1 < len(steps) and isinstance(node.get(key), list):
            name = steps[i + 1]  # strategies.NAME.params...
            found = [s for s in node[key] if isinstance(s, dict) and s.get("name") == name]
            if not found:
                raise UserError(f"--param {path}: no strategy named {name!r}")
            set_path(found[0], ".".join(steps[i + 2:]), value)
            return
        if not isinstance(node, dict):
            raise UserError(f"--param {path}: {'.'.join(steps[:i]) or 'the config'} is not a mapping")
        if last:
            node[key] = value
            return
        node = node.setdefault(key, {}) if index is None else node.get(key)
        if index is not None:
            if not isinstance(node, list) or int(index) >= len(node):
                raise UserError(f"--param {path}: {key}[{index}] is not in the config")
            node = node[int(index)]
            if i == len(steps) - 1:
                raise UserError(f"--param {path}: name a value inside {key}[{index}]")


@dataclass
class Trial:
    """One combination and what its backtests gave."""

    values: dict[str, Any]
    figures: dict[str, Any] = field(default_factory=dict)
    out_of_sample: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


METRICS: dict[str, Callable[[dict[str, Any]], float]] = {
    "net": lambda s: float(s["pnl"]["net"]),
    "realized": lambda s: float(s["pnl"]["realized"]),
    "fees": lambda s: -float(s["pnl"]["fees"]),  # fewer fees rank higher
    "fills": lambda s: float(s["fills"]),
}


def figures_of(summary: dict[str, Any]) -> dict[str, Any]:
    return {"net": summary["pnl"]["net"], "realized": summary["pnl"]["realized"], "fees": summary["pnl"]["fees"],
            "fills": summary["fills"], "orders": summary["orders_total"]}


class Sweep:
    def __init__(self, config: str, params: list[str], *, metric: str, out: str, jobs: int | None, sample: int | None,
                 seed: int, split: float | None, start: str | None, end: str | None) -> None:
        self.source = Path(config)
        self.raw = read_yaml(self.source)
        if metric not in METRICS:
            raise UserError(f"--metric: {metric!r} is not one of {', '.join(METRICS)}")
        if split is not None and not (0 < split < 1 and start and end):
            raise UserError("--split: a fraction between 0 and 1, with --from and --to giving the whole period")
        self.metric = metric
        self.grid = [parse_param(p) for p in params]
        if not self.grid:
            raise UserError("sweep: give at least one --param PATH=SPEC")
        self.out = Path(out)
        self.jobs = max(1, jobs or os.cpu_count() or 1)
        self.sample, self.seed, self.split, self.start, self.end = sample, seed, split, start, end
        self._absolute_plugins()
        probe = copy.deepcopy(self.raw)
        for path, values in self.grid:  # a path that names nothing: one line now, not in every trial
            set_path(probe, path, values[0])

    def _absolute_plugins(self) -> None:
        """`path.py:Class` plugins are found from the config's folder; the trial configs live elsewhere."""
        base = self.source.resolve().parent
        for sc in self.raw.get("strategies", []) if isinstance(self.raw, dict) else []:
            plugin = sc.get("plugin", "") if isinstance(sc, dict) else ""
            file, sep, cls = plugin.rpartition(":")
            if sep and file.endswith(".py") and not Path(file).is_absolute():
                sc["plugin"] = f"{base / file}:{cls}"

    def combinations(self) -> list[dict[str, Any]]:
        names = [path for path, _ in self.grid]
        every = [dict(zip(names, values, strict=True)) for values in itertools.product(*(v for _, v in self.grid))]
        if len(every) > MAX_COMBINATIONS and self.sample is None:
            raise UserError(f"sweep: {len(every)} combinations; give --sample N to try N of them")
        if self.sample is not None and self.sample < len(every):
            every = random.Random(self.seed).sample(every, self.sample)
        return every

    def run(self) -> list[Trial]:
        self.out.mkdir(parents=True, exist_ok=True)
        trials = [Trial(values) for values in self.combinations()]
        with tempfile.TemporaryDirectory(prefix="tickbus-sweep-") as tmp, ThreadPoolExecutor(self.jobs) as pool:
            list(pool.map(lambda pair: self._trial(Path(tmp), *pair), enumerate(trials)))
        key = METRICS[self.metric]
        trials.sort(key=lambda t: (t.error is None, key(t.figures["_summary"]) if t.error is None else 0.0), reverse=True)
        self._write(trials)
        return trials

    def _trial(self, tmp: Path, n: int, trial: Trial) -> None:
        config = copy.deepcopy(self.raw)
        for name, value in trial.values.items():
            set_path(config, name, value)
        config["state_dir"] = str(tmp / f"t{n}")
        config["journal"] = None
        config["progress_s"] = 0
        periods = [(self.start, self.end)] if self.split is None else self._halves()
        for i, (start, end) in enumerate(periods):
            file = tmp / f"t{n}-{i}.yaml"
            file.write_text(json.dumps(config, default=_jsonable), encoding="utf-8")  # JSON is YAML
            args = [sys.executable, str(RUN_PY), "backtest", str(file), "--log-format", "json", "--log-level", "error"]
            args += [*(["--from", start] if start else []), *(["--to", end] if end else [])]
            proc = subprocess.run(args, capture_output=True, text=True, cwd=os.getcwd())
            if proc.returncode != 0:
                trial.error = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1][:300]
                return
            summary = json.loads(proc.stdout.strip().splitlines()[-1])
            target = trial.figures if i == 0 else trial.out_of_sample
            target.update(figures_of(summary))
            target["_summary"] = summary

    def _halves(self) -> list[tuple[str, str]]:
        """The in-sample and out-of-sample periods, cut at the `split` fraction of the whole."""
        assert self.start is not None and self.end is not None and self.split is not None
        start, end = _instant(self.start, "--from"), _instant(self.end, "--to")
        if end <= start:
            raise UserError("--to: before --from")
        cut = (start + (end - start) * self.split).isoformat()
        return [(self.start, cut), (cut, self.end)]

    def _write(self, trials: list[Trial]) -> None:
        names = [path for path, _ in self.grid]
        cols = ["net", "realized", "fees", "fills", "orders"]
        header = ["rank", *names, *cols, *([f"oos_{c}" for c in cols] if self.split else []), "error"]
        rows = []
        for rank, t in enumerate(trials, 1):
            rows.append([rank, *(t.values[n] for n in names), *(t.figures.get(c, "") for c in cols),
                         *([t.out_of_sample.get(c, "") for c in cols] if self.split else []), t.error or ""])
        with open(self.out / "sweep.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        title = f"sweep of {html.escape(self.source.name)} by {self.metric}"
        (self.out / "sweep.html").write_text(
            f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>"
            "body{font:14px system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}th{background:#f3f3f3}</style></head>"
            f"<body><h1>{title}</h1><p>{len(trials)} combinations"
            + (f"; ranked in sample (first {self.split:.0%} of {html.escape(self.start or '')} .. "
               f"{html.escape(self.end or '')}), out of sample beside it (oos_)" if self.split else "")
            + f"</p><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></body></html>",
            encoding="utf-8",
        )
