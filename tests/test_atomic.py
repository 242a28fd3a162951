"""Atomic files and cache entries: a torn write is never loaded, a failed write keeps the old file."""

from __future__ import annotations

import errno
import json
import os
import warnings
from pathlib import Path

import pandas as pd
import pytest

from maml_strategy.atomic import (
    CacheWarning,
    OutputError,
    atomic_path,
    atomic_write,
    check_entry,
    entry_ok,
    leftover_temp_files,
    read_json_entry,
    write_entry,
    write_json_entry,
)
from tests.helpers import load_script


def _entry(root: Path) -> Path:
    with write_entry(root / "e") as tmp:
        (tmp / "a.bin").write_bytes(b"x" * 1000)
        (tmp / "b.txt").write_text("hello")
    return root / "e"


# ------------------------------------------------------------------ directory entries
def test_manifest_rejects_truncated_missing_and_garbage(tmp_path: Path) -> None:
    e = _entry(tmp_path)
    assert check_entry(e) is None and entry_ok(e, ("a.bin", "b.txt"))
    assert leftover_temp_files(tmp_path) == []
    with open(e / "a.bin", "r+b") as fh:  # truncated
        fh.truncate(10)
    with pytest.warns(CacheWarning, match=r"e is incomplete or corrupt: a\.bin: size 10"):
        assert not entry_ok(e)
    (e / "a.bin").write_bytes(b"y" * 1000)  # same size, other bytes
    assert "SHA-256" in check_entry(e)
    (e / "manifest.json").write_text("{garb")
    assert "unreadable manifest" in check_entry(e)
    (e / "manifest.json").unlink()  # killed before the manifest: never accepted
    assert "no manifest.json" in check_entry(e)
    assert check_entry(tmp_path / "nope") == "missing"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not entry_ok(tmp_path / "nope")  # a missing entry is not a defect: no warning


def test_required_file_and_replacement_of_a_corrupt_entry(tmp_path: Path) -> None:
    e = _entry(tmp_path)
    assert "gbdt.model missing from the manifest" in check_entry(e, ("gbdt.model",))
    (e / "b.txt").write_text("torn")
    with write_entry(e) as tmp:  # a corrupt entry is replaced by the new one
        (tmp / "b.txt").write_text("fresh")
    assert check_entry(e) is None and (e / "b.txt").read_text() == "fresh"
    with write_entry(e) as tmp:  # an intact entry that appeared first is kept
        (tmp / "b.txt").write_text("second writer")
    assert (e / "b.txt").read_text() == "fresh" and check_entry(e) is None
    assert leftover_temp_files(tmp_path) == []


def test_failed_entry_write_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), write_entry(tmp_path / "e") as tmp:
        (tmp / "a.bin").write_bytes(b"half")
        raise RuntimeError("killed")
    assert not (tmp_path / "e").exists() and leftover_temp_files(tmp_path) == []


def test_stale_temp_of_a_killed_writer_is_swept(tmp_path: Path) -> None:
    dead = 2**22 + 12345  # above the default pid_max: no such process
    (tmp_path / f".e.{dead}.abc.tmp").mkdir()
    (tmp_path / f".out.csv.{dead}.xyz.tmp.csv").write_text("half")
    _entry(tmp_path)
    atomic_write(tmp_path / "out.csv", "a\n")
    assert leftover_temp_files(tmp_path) == []


# ------------------------------------------------------------------ single files
def test_atomic_write_failure_mid_write_keeps_the_old_file(tmp_path: Path, monkeypatch) -> None:
    p = atomic_write(tmp_path / "summary.json", '{"good": 1}')
    with pytest.raises(RuntimeError), atomic_path(p) as tmp:
        tmp.write_text('{"par')
        raise RuntimeError("crash mid-write")
    assert p.read_text() == '{"good": 1}' and leftover_temp_files(tmp_path) == []

    def no_space(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(OSError):
        atomic_write(p, '{"partial": true}')
    assert p.read_text() == '{"good": 1}' and leftover_temp_files(tmp_path) == []


def test_atomic_path_keeps_the_suffix_and_skips_empty(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "r.csv") as tmp:
        assert tmp.suffix == ".csv" and tmp.parent == tmp_path
        pd.DataFrame({"a": [1]}).to_csv(tmp, index=False)
    assert (tmp_path / "r.csv").read_text() == "a\n1\n"
    with atomic_path(tmp_path / "h.png", skip_empty=True):
        pass  # the writer had nothing to draw
    assert not (tmp_path / "h.png").exists() and leftover_temp_files(tmp_path) == []


def test_json_entry_roundtrip_and_defects(tmp_path: Path) -> None:
    p = write_json_entry(tmp_path / "r.json", {"rows": [{"x": 0.1}], "n": 3})
    assert read_json_entry(p) == {"rows": [{"x": 0.1}], "n": 3}
    assert read_json_entry(tmp_path / "missing.json") is None
    raw = p.read_text()
    p.write_text(raw[: len(raw) // 2])
    with pytest.warns(CacheWarning, match="r.json is incomplete or corrupt: unreadable"):
        assert read_json_entry(p) is None
    p.write_text(raw.replace("0.1", "0.2"))
    with pytest.warns(CacheWarning, match="SHA-256"):
        assert read_json_entry(p) is None
    p.write_text(json.dumps({"rows": []}))
    with pytest.warns(CacheWarning, match="no digest"):
        assert read_json_entry(p) is None


# ------------------------------------------------------------------ scripts: output failures
def _fake_results() -> dict:
    rows = [{"symbol": s, "year": 2008, "seed": 0, "strategy": k, "total_return": r, "sharpe": r * 3,
             "max_drawdown": -0.1, "exposure": 0.5, "trades": 2, "exposure_bear_high_vol": 0.1,
             "exposure_other_regimes": 0.6, "adaptations": 1}
            for s in ("S0", "S1") for k, r in (("maml", 0.05), ("static", 0.02), ("buy_and_hold", 0.01),
                                               ("regime_rule", 0.0), ("sma200", 0.03))]
    return {"rows": rows, "skill": [], "skipped": [], "training": [],
            "tasks": {"train": 1, "train_cached": 0, "backtest": 2, "backtest_cached": 0}}


def _universe(folder: Path) -> Path:
    from maml_strategy.data import synthetic_ohlcv

    d = folder / "uni"
    d.mkdir()
    for s in ("S0", "S1"):
        df = synthetic_ohlcv(400, seed=1, start="2007-01-03").drop(columns="regime")
        df.rename(columns=str.title).rename_axis("Date").to_csv(d / f"{s}.csv")
    return d


def test_walk_forward_output_failure_is_one_error_line_and_keeps_old_summary(tmp_path: Path, monkeypatch,
                                                                              capsys) -> None:

    import maml_strategy.atomic as atomic
    import maml_strategy.backtest.walkforward as wf
    from maml_strategy.cli import run_main

    script = load_script("walk_forward.py")
    monkeypatch.setattr(wf, "run_walk_forward", lambda *a, **k: _fake_results())
    out = tmp_path / "out"
    argv = ["--universe", str(_universe(tmp_path)), "--first", "2008", "--last", "2008", "--train-years", "3",
            "--out", str(out), "--cache-dir", str(tmp_path / "c"), "--price-basis", "close", "--quiet"]
    assert run_main(script.main, argv) == 0
    good = (out / "summary.json").read_text()
    assert json.loads(good)["results"]

    real = atomic.atomic_path

    def full_disk(path, **kw):
        if Path(path).name == "results.csv":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, **kw)

    monkeypatch.setattr(atomic, "atomic_path", full_disk)
    capsys.readouterr()
    assert run_main(script.main, argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: cannot write") and "ENOSPC" in err[0]
    assert (out / "summary.json").read_text() == good  # never replaced by a partial one
    assert leftover_temp_files(out) == []


def test_write_outputs_failure_is_an_output_error(tmp_path: Path) -> None:
    from maml_strategy.backtest.experiment import write_outputs

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputError, match="cannot write the experiment outputs"):
        write_outputs(None, blocker / "out")  # type: ignore[arg-type]


# ------------------------------------------------------------------ training cache
@pytest.mark.filterwarnings("ignore::UserWarning:lightgbm")
def test_truncated_gbdt_model_warns_and_retrains(tmp_path: Path, monkeypatch) -> None:
    import maml_strategy.backtest.train as train
    from maml_strategy.backtest.periods import custom_period
    from maml_strategy.data import synthetic_ohlcv
    from tests.helpers import tiny_config

    df = synthetic_ohlcv(1500, seed=3, start="2000-01-03")
    period = custom_period("2000-01-03", "2004-12-31", "2005-01-03", "2005-10-31")
    cfg = tiny_config()
    first = train.train_models(df, cfg, period, cache_dir=tmp_path)
    entry = tmp_path / first.key
    assert not first.cached and check_entry(entry) is None
    if first.gbdt is None:  # pragma: no cover - LightGBM missing: truncate another model file
        victim = entry / "static.pt"
    else:
        victim = entry / "gbdt.model"
    with open(victim, "r+b") as fh:
        fh.truncate(victim.stat().st_size // 2)
    with pytest.warns(CacheWarning, match=rf"{first.key} is incomplete or corrupt: {victim.name}: size"):
        again = train.train_models(df, cfg, period, cache_dir=tmp_path)
    assert not again.cached and check_entry(entry) is None  # retrained and republished
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)
        third = train.train_models(df, cfg, period, cache_dir=tmp_path)
    assert third.cached and (third.gbdt is None) == (first.gbdt is None)
    assert leftover_temp_files(tmp_path) == []
