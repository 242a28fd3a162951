"""``benchmarks/chaos.py --quick``: every injected fault is recovered with identical results (slow, ~1-3 min)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import real_data_dir

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # real runs, killed and resumed; run with -m slow
def test_chaos_quick_loses_nothing(tmp_path: Path) -> None:
    universe = real_data_dir() / "universe"
    if not universe.is_dir():
        pytest.skip(f"no real universe at {universe}")
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "chaos.py"), "--quick", "--universe", str(universe),
                        "--work", str(tmp_path / "chaos")], capture_output=True, text=True, timeout=900, cwd=tmp_path)
    last = r.stdout.strip().splitlines()[-1]
    counts = dict(part.split("=") for part in last.split())
    assert set(counts) == {"faults", "recovered", "identical", "lost"}, r.stdout[-2000:] + r.stderr[-2000:]
    assert int(counts["faults"]) >= 10
    assert counts["lost"] == "0" and counts["recovered"] == counts["faults"], r.stdout[-3000:]
    assert r.returncode == 0
