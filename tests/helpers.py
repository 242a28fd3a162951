"""Small shared builders for tests (imported as ``from tests.helpers import ...``)."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import subprocess
import sys
import types
import warnings
from collections.abc import Iterator
from pathlib import Path

import yaml

from maml_strategy.cli import run_main
from maml_strategy.config import StrategyConfig, load_config

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "model": {"hidden_dim": 16},
    "maml": {"meta_epochs": 2, "steps_per_epoch": 3, "inner_steps": 2, "num_tasks_per_batch": 4,
             "val_tasks": 8, "support_size": 16, "query_size": 8, "patience": None},
    "static": {"epochs": 3, "batch_size": 64, "patience": None},
    "gbdt": {"n_estimators": 40, "early_stopping_rounds": 10},
}


def tiny_config(**trading) -> StrategyConfig:
    """A config that trains in seconds: small net, few meta-steps, few epochs."""
    return load_config(None, **TINY, trading=trading)


def tiny_config_file(folder: Path) -> Path:
    """The tiny config as a YAML file, for the command-line scripts."""
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


def load_script(name: str) -> types.ModuleType:
    """``backtests/<name>`` (``run.py`` or ``run``) imported as a fresh module, to call its ``main`` in-process."""
    stem = Path(name).stem
    spec = importlib.util.spec_from_file_location(f"_script_{stem}", REPO / "backtests" / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # backtrader's metaclasses look their module up there
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def _working_dir(path: Path) -> Iterator[None]:
    """``os.chdir(path)`` for the block (``contextlib.chdir`` is Python >= 3.11; the package supports 3.10)."""
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def run_script(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``backtests/<name> ARGS`` from ``cwd`` the way its ``__main__`` does (``run_main(main)``), in-process.

    No new interpreter (torch and backtrader are imported once per test session, not once per call). The
    result reads like ``subprocess.run(..., capture_output=True, text=True)``'s: exit status, stdout, and
    stderr with the ``error:`` line and every warning printed as Python prints it. A bug (any exception
    but the package's errors) propagates, with its traceback, and fails the test.
    """
    main = load_script(name).main
    out, err = io.StringIO(), io.StringIO()

    def show(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
        err.write(warnings.formatwarning(message, category, filename, lineno, line))

    with (_working_dir(cwd), warnings.catch_warnings(), contextlib.redirect_stdout(out),
          contextlib.redirect_stderr(err)):
        warnings.showwarning = show  # restored on leaving catch_warnings
        status = run_main(main, list(args))
    return subprocess.CompletedProcess([name, *args], status, out.getvalue(), err.getvalue())
