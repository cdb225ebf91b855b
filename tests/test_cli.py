"""The command line a first-time user meets: the `tickbus` console script beside `python run.py`,
`--version`, and a help line on every argument of every command."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from engine.app.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
TICKBUS = Path(sys.executable).with_name("tickbus")  # installed beside the interpreter by `pip install -e .`


def test_version_is_the_installed_packages() -> None:
    proc = subprocess.run([sys.executable, "run.py", "--version"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == f"tickbus {metadata.version('tickbus')}"


def test_the_console_script_runs_the_same_commands_as_run_py(tmp_path: Path) -> None:
    if not TICKBUS.exists():
        pytest.skip(f"no console script at {TICKBUS}: install with the README's `pip install -e '.[test]'`")
    check = subprocess.run([str(TICKBUS), "check", str(ROOT / "configs" / "paper_sma.yaml")], cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and json.loads(check.stdout)["name"] == "paper_sma"
    bad = subprocess.run([str(TICKBUS), "check", str(tmp_path / "missing.yaml")], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "missing.yaml" in bad.stderr
    helped = subprocess.run([str(TICKBUS), "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and helped.stdout.startswith("usage: tickbus")


def test_every_argument_of_every_command_has_a_help_line() -> None:
    (commands,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(commands.choices) == {"run", "backtest", "sweep", "report", "login", "record", "download", "check",
                                     "strategies", "emulate"}
    missing = [f"{name} {'/'.join(a.option_strings) or a.dest}" for name, sub in commands.choices.items()
               for a in sub._actions if not isinstance(a, argparse._HelpAction) and not a.help]
    assert missing == []
    assert all(commands._choices_actions), "each command has its own help line"


def test_a_run_loads_the_parquet_writer_only_when_it_records() -> None:
    """pyarrow is ~40 MB of a process's memory: a run that neither records nor replays files does without."""
    code = "import sys; import engine.app.cli, engine.app.runner, engine.app.commands; print('pyarrow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
