"""Ray cluster plumbing without a cluster: the runtime environment, path-free task arguments, model bytes, bad input."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import maml_strategy
import maml_strategy.backtest.executors as ex
from maml_strategy.backtest.executors import LocalExecutor, RayExecutor, check_ray_address, fetch, runtime_env
from maml_strategy.backtest.walkforward import (BacktestTask, FeatureTask, TrainTask, WalkForwardPlan, model_files,
                                                models_from_files, run_walk_forward)
from maml_strategy.data import synthetic_ohlcv
from maml_strategy.errors import ConfigError, ModelError
from tests.helpers import tiny_config

REPO = Path(__file__).resolve().parents[1]


class RecordingExecutor(LocalExecutor):
    """Runs locally and keeps every task's arguments and result."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], Any]] = []

    def map(self, fn, args, **kw):  # noqa: ANN001, ANN003, ANN201
        out = super().map(fn, args, **kw)
        self.calls.extend((fn.__name__, a, r) for a, r in zip(args, out))
        return out


def _strings(obj: Any, seen: set[int] | None = None) -> list[str]:
    """Every str (and every Path, as a str) reachable from a task argument."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    if isinstance(obj, (str, Path)):
        return [str(obj)]
    if isinstance(obj, (pd.DataFrame, pd.Series, pd.Index, np.ndarray)):
        return [str(c) for c in getattr(obj, "columns", [])] + ([obj.name] if isinstance(getattr(obj, "name", None), str)
                                                                 else [])
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [s for f in dataclasses.fields(obj) for s in _strings(getattr(obj, f.name), seen)]
    if isinstance(obj, dict):
        return [s for k, v in obj.items() for s in _strings(k, seen) + _strings(v, seen)]
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [s for v in obj for s in _strings(v, seen)]
    return []


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rec")
    uni = tmp / "uni"
    uni.mkdir()
    for i in range(2):
        df = synthetic_ohlcv(2300, seed=40 + i, start="2000-01-03").drop(columns="regime")
        df.rename(columns=str.title).rename_axis("Date").to_csv(uni / f"S{i}.csv")
    refs = [(f"S{i}", str(uni / f"S{i}.csv")) for i in range(2)]
    plan = WalkForwardPlan(refs, refs, 2008, 2008, 5, [0], "close")
    rec = RecordingExecutor()
    res = run_walk_forward(plan, tiny_config(), executor=rec, cache_dir=str(tmp / "cache"), progress=False)
    return tmp, rec, res


@pytest.mark.filterwarnings("ignore::UserWarning:lightgbm")
def test_tasks_receive_no_path_of_the_driver(recorded) -> None:
    tmp, rec, res = recorded
    kinds = {name for name, _, _ in rec.calls}
    assert kinds == {"feature_task", "train_task", "backtest_task"}
    types_ = {(name, type(a[0])) for name, a, _ in rec.calls}
    assert types_ == {("feature_task", FeatureTask), ("train_task", TrainTask), ("backtest_task", BacktestTask)}
    assert all(len(a) == 1 for _, a, _ in rec.calls)  # one small dataclass each, no positional tuple
    for name, args, _ in rec.calls:
        for s in _strings(args):
            assert str(tmp) not in s and str(REPO) not in s and "/" not in s, (name, s)
    assert res["tasks"] == {"train": 1, "train_cached": 0, "backtest": 2, "backtest_cached": 0}
    # the driver wrote every artifact, as the results arrived
    cache = tmp / "cache"
    assert len(list((cache / "features").glob("S*/manifest.json"))) == 2
    assert (cache / res["training"][0]["key"] / "manifest.json").is_file()
    assert len(list((cache / "wf").glob("*.json"))) == 2
    assert set(res["stages"]) == {"load", "features", "train", "backtest"}


@pytest.mark.filterwarnings("ignore::UserWarning:lightgbm")
def test_training_returns_integrity_checked_model_bytes(recorded) -> None:
    tmp, rec, res = recorded
    (files,) = [r["files"] for name, _, r in rec.calls if name == "train_task"]
    entry = tmp / "cache" / res["training"][0]["key"]
    assert {n: (entry / n).read_bytes() for n in files} == files  # the same bytes as the cache entry's files
    models = models_from_files(files, "k")
    assert model_files(models)["maml.pt"][:2] == files["maml.pt"][:2]
    raw = bytearray(files["static.pt"])
    raw[len(raw) // 2] ^= 0xFF
    with pytest.raises(ModelError):
        models_from_files({**files, "static.pt": bytes(raw)})
    with pytest.raises(ModelError, match="unexpected model files"):
        models_from_files({"../evil.pt": b""})


def test_runtime_env_ships_the_package() -> None:
    env = runtime_env()
    (mod,) = env["py_modules"]
    assert Path(mod) == Path(maml_strategy.__file__).resolve().parent and (Path(mod) / "backtest").is_dir()
    assert {"__pycache__", "*.pyc"} <= set(env["excludes"])
    assert fetch(LocalExecutor().put({"a": 1})) == {"a": 1}


def test_ray_executor_starts_ray_with_the_runtime_env(monkeypatch) -> None:
    calls: list[dict[str, Any]] = []
    fake = types.SimpleNamespace(is_initialized=lambda: False, init=lambda **kw: calls.append(kw),
                                 shutdown=lambda: None)
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.setattr(ex, "_default_cluster", lambda note: None)
    RayExecutor(workers=3)
    assert calls[-1]["runtime_env"] == runtime_env() and calls[-1]["num_cpus"] == 3
    assert calls[-1]["address"] == "local"  # never whatever /tmp/ray/ray_current_cluster names
    monkeypatch.setattr(ex, "check_ray_address", lambda a: None)
    RayExecutor(address="10.0.0.5:6379")
    assert calls[-1]["address"] == "10.0.0.5:6379" and calls[-1]["runtime_env"] == runtime_env()
    assert "num_cpus" not in calls[-1]

    def mismatch(**kw: Any) -> None:
        raise RuntimeError("Version mismatch: The cluster was started with:\n    Ray: 2.9.0\n")

    fake.init = mismatch
    with pytest.raises(ConfigError, match="another Ray or Python version.*Ray: 2.9.0"):
        RayExecutor(address="10.0.0.5:6379")


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers (not a Ray head)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    yield s.getsockname()[1]
    s.close()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_silent_address_is_one_error_after_the_timeout(monkeypatch, silent_port) -> None:
    monkeypatch.setattr(ex, "RAY_CONNECT_TIMEOUT_S", 1.0)
    with pytest.raises(ConfigError, match="no Ray head replied within 1 s"):
        check_ray_address(f"127.0.0.1:{silent_port}")
    with pytest.raises(ConfigError, match="does not answer"):
        check_ray_address(f"127.0.0.1:{_closed_port()}")
    with pytest.raises(ConfigError, match="HOST:PORT"):
        check_ray_address("nonsense")


def test_version_mismatch_names_both_versions(monkeypatch, silent_port) -> None:
    monkeypatch.setattr(ex, "_versions", lambda: ("2.60.0", "3.11.7"))
    monkeypatch.setattr(ex.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(
        a, 0, '{"ray": "2.9.3", "python": "3.10.12"}\n', ""))
    with pytest.raises(ConfigError, match=r"runs Ray 2\.9\.3 on Python 3\.10\.12, this driver Ray 2\.60\.0 on Python "
                                          r"3\.11\.7.*pip install ray==2\.60\.0"):
        check_ray_address(f"127.0.0.1:{silent_port}")


def test_recorded_cluster_dead_ignored_live_joined_broken_one_error(monkeypatch, tmp_path, silent_port) -> None:
    pytest.importorskip("ray")
    record = tmp_path / "ray_current_cluster"
    monkeypatch.setattr("ray._common.utils.get_ray_address_file", lambda temp_dir: str(record))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    notes: list[str] = []
    assert ex._default_cluster(notes.append) is None  # no record: start a local Ray
    record.write_text(f"127.0.0.1:{_closed_port()}")  # its head died
    assert ex._default_cluster(notes.append) is None and notes == []
    record.write_text(f"127.0.0.1:{silent_port}")
    monkeypatch.setattr(ex, "check_ray_address", lambda a: None)  # as if a head of our versions answered there
    assert ex._default_cluster(notes.append) == f"127.0.0.1:{silent_port}"
    assert notes[-1].startswith("note: joining the Ray cluster") and "ray stop" in notes[-1]

    def broken(address: str) -> None:
        raise ConfigError(f"the Ray cluster at {address} does not answer")

    monkeypatch.setattr(ex, "check_ray_address", broken)
    with pytest.raises(ConfigError, match=f"{record} names a Ray head.*ray stop.*delete"):
        ex._default_cluster(notes.append)
    monkeypatch.setenv("RAY_ADDRESS", "10.1.2.3:6379")
    assert ex._default_cluster(notes.append) == "10.1.2.3:6379" and "RAY_ADDRESS" in notes[-1]
