"""Scripts reject bad input with one ``error:`` line, exit 2, before torch is imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

_PROBE = """
import runpy, sys
sys.argv = [{script!r}, *{args!r}]
try:
    runpy.run_path({script!r}, run_name="__main__")
except SystemExit as exc:
    print("status", exc.code)
print("torch" if "torch" in sys.modules else "no-torch")
"""


def _run_script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    script = str(REPO_ROOT / "backtests" / name)
    code = _PROBE.format(script=script, args=list(args))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == lines[0]
    return lines[0]


@pytest.fixture()
def bad_config(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text("trading:\n  max_exposur: 0.5\n")
    return path


@pytest.mark.parametrize("script, extra", [("run.py", ["--period", "2008"]), ("walk_forward.py", ["--universe", "SPY"])])
def test_bad_config_is_rejected_before_torch(script: str, extra: list[str], bad_config: Path, tmp_path: Path) -> None:
    proc = _run_script(script, *extra, "--config", str(bad_config), "--out", str(tmp_path / "out"))
    assert proc.stdout.split()[-3:] == ["status", "2", "no-torch"], proc.stdout + proc.stderr
    assert "max_exposur" in _one_error_line(proc)
    assert not (tmp_path / "out").exists()


def test_unknown_symbols_are_all_named(tmp_path: Path) -> None:
    universe = tmp_path / "uni"
    universe.mkdir()
    for sym in ("AAA", "BBB"):
        (universe / f"{sym}.csv").write_text("Date,Open,High,Low,Close,Volume\n")
    unknown = [f"NOPE{i}" for i in range(12)]
    proc = _run_script("walk_forward.py", "--universe", str(universe), "--symbols", ",".join(["AAA", *unknown]),
                       "--out", str(tmp_path / "out"))
    assert proc.stdout.split()[-3:] == ["status", "2", "no-torch"], proc.stdout + proc.stderr
    line = _one_error_line(proc)
    assert all(name in line for name in unknown[:10]) and "and 2 more" in line
    assert "AAA," not in line and "12 symbol(s)" in line
    assert str(universe) in line  # where the available symbols are listed
