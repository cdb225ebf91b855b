"""The mutated-config campaign: the shipped configs with values, keys and shapes changed at random,
each loaded as `run.py check` loads it. Counts configs that loaded, were refused in one line, and
crashed (printing the first crashes). Not a timing; asserts nothing.

    python bench/config_campaign.py [--count 5000] [--seed 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._common import machine  # noqa: E402
from tests.engine.config_mutations import campaign  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        crashes = campaign(args.count, Path(tmp), seed=args.seed)
    print(f"machine: {machine()}")
    print(f"mutated configs: {args.count}, seed {args.seed}: crashes (tracebacks): {len(crashes)}")
    for name, data, found in crashes[:5]:
        print(f"--- {name}\n{data}\n{found}")
    return 1 if crashes else 0


if __name__ == "__main__":
    raise SystemExit(main())
