"""`shadow: true`: the engine's paper account beside a live venue (GOPAX's emulator) on the same
quotes and orders, and the summary's order-by-order comparison of the two."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def config(tmp: Path, mode: str = "live") -> Path:
    path = tmp / "shadow.yaml"
    path.write_text(yaml.safe_dump({
        "mode": mode, "duration_s": 8, "progress_s": 0, "state_dir": str(tmp / "var"),
        "venues": {"gopax": {"type": "gopax", "emulator": True, "emulator_seed": 32, "pairs": ["BTC-KRW"], "shadow": True}},
        "strategies": [{"name": "grid", "plugin": "grid", "instruments": ["gopax:BTC-KRW"],
                        "params": {"levels": 4, "step_ticks": 1, "qty": 0.001, "recenter_steps": 10}}],
        "risk": {"max_order_value": 5_000_000, "max_open_orders": 20, "max_orders_per_second": 10},
    }))
    return path


def test_the_paper_copy_of_every_order_is_compared_with_the_venues_fills(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "run.py", str(config(tmp_path)), "--log-format", "json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    shadow = summary["shadow"]["gopax"]
    rows = shadow["by_order"]
    assert shadow["orders"] == len(rows) == summary["orders_total"]  # every order the venue got, copied
    assert shadow["paper_refused"] == 0
    venue_filled = sum(Decimal(r["venue_filled"]) for r in rows)
    assert venue_filled > 0 and summary["fills"] > 0
    assert shadow["both_filled"] + shadow["venue_only"] + shadow["paper_only"] <= shadow["orders"]
    assert shadow["fill_ratio_paper_to_venue"] == str(round(sum(Decimal(r["paper_filled"]) for r in rows) / venue_filled, 4))
    both = [r for r in rows if Decimal(r["venue_filled"]) and Decimal(r["paper_filled"])]
    assert len(both) == shadow["both_filled"] and all(r["ticks_better_on_paper"] is not None for r in both)
    if both:
        assert shadow["ticks_better_on_paper"]["n"] == len(both)
    records = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    assert any(r["event"] == "shadow paper account beside the venue" for r in records)
    assert not any(r.get("level") == "error" for r in records)


def test_shadow_outside_a_live_run_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = config(tmp_path, mode="paper")
    text = yaml.safe_load(path.read_text())
    text["paper"] = {"balances": {"KRW": 100_000_000}}
    path.write_text(yaml.safe_dump(text))
    proc = subprocess.run([sys.executable, "run.py", str(path), "--duration", "1"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "venues.gopax.shadow" in proc.stderr and "Traceback" not in proc.stderr
