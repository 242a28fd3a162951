"""Small shared builders for tests (imported as ``from tests.helpers import ...``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from maml_strategy.config import StrategyConfig, load_config

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "model": {"hidden_dim": 16},
    "maml": {"meta_epochs": 2, "steps_per_epoch": 3, "inner_steps": 2, "num_tasks_per_batch": 4,
             "val_tasks": 8, "support_size": 16, "query_size": 8, "patience": None},
    "static": {"epochs": 3, "batch_size": 64, "patience": None},
}


def tiny_config(**trading) -> StrategyConfig:
    """A config that trains in seconds: small net, few meta-steps, few epochs."""
    return load_config(None, **TINY, trading=trading)


def tiny_config_file(folder: Path) -> Path:
    """The tiny config as a YAML file, for the command-line scripts."""
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


def run_script(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``backtests/<name>`` with this interpreter; capture output."""
    return subprocess.run([sys.executable, str(REPO / "backtests" / name), *args],
                          capture_output=True, text=True, timeout=600, cwd=cwd)
