"""Throwaway virtual environments for the public-client contract tests: one per client, built once
and cached under ~/.cache/tickbus/public-clients/<name>, so a run after the first installs nothing.

A venv is only reused when its marker file (written after every install step succeeded) is there;
a half-built one is removed and built again. Every subprocess has a timeout."""

from __future__ import annotations

import os
import shutil
import subprocess
import venv
from pathlib import Path

CACHE = Path(os.environ.get("TICKBUS_CLIENT_CACHE", Path.home() / ".cache" / "tickbus" / "public-clients"))
INSTALL_TIMEOUT_S = 600.0
MARKER = "tickbus-ready"


class VenvError(RuntimeError):
    """The environment could not be built; the message is one line, fit for pytest.skip."""


def client_venv(name: str, steps: list[list[str]], *, timeout_s: float = INSTALL_TIMEOUT_S) -> Path:
    """The python of a venv at CACHE/name after `pip install <step>` for every step, in order."""
    root = CACHE / name
    python = root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    marker = root / MARKER
    wanted = "\n".join(" ".join(step) for step in steps)
    if marker.exists() and python.exists() and marker.read_text() == wanted:
        return python
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    try:
        venv.EnvBuilder(with_pip=True, clear=True).create(root)
    except Exception as exc:  # noqa: BLE001 - any failure is a reason to skip, told in one line
        raise VenvError(f"cannot create a venv at {root}: {exc}") from exc
    for step in steps:
        cmd = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", *step]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise VenvError(f"pip install {' '.join(step)} timed out after {timeout_s:.0f} s") from exc
        if done.returncode != 0:
            last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
            raise VenvError(f"pip install {' '.join(step)} failed: {last}")
    marker.write_text(wanted)
    return python


def run_script(python: Path, script: Path, args: list[str], *, timeout_s: float, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the file `script` with the venv's python, bounded by `timeout_s`: isolated mode (-I) and
    no PYTHONPATH, so the client sees only its venv, never this tree's packages."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONUNBUFFERED"] = "1"
    return subprocess.run(
        [str(python), "-I", str(script), *args], capture_output=True, text=True, timeout=timeout_s,
        check=False, env=env, cwd=cwd,
    )


__all__ = ["CACHE", "VenvError", "client_venv", "run_script"]
