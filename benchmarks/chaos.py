#!/usr/bin/env python
"""Fault injection: kill, corrupt and race small real walk-forward runs and a paper-trading replay.

    python benchmarks/chaos.py --quick            # >= 10 faults, minutes on 2 cores
    python benchmarks/chaos.py                     # + more kills and a killed Ray worker

Every fault runs against a small real setup (symbols from --universe, one test
year, a tiny training config) and is compared with an uninterrupted reference run:
the summary's numbers (aggregate, comparisons, skill, results) and results.csv must
be identical, and no temp or half-written file may remain in the cache or output.
Fault classes: SIGKILL of the walk-forward at seeded random moments, then a resume;
truncated and garbage cache files (training, feature, backtest-result entries); two
concurrent runs on one cache folder; a Ray worker killed mid-task (full mode); a
SIGKILL of ``paper_trade.py --replay`` at a random moment, then a restart on the
same journal (no doubled order, same final state).

Prints one row per fault class and, as its last line,
``faults=N recovered=R identical=I lost=L`` (lost = a result missing or different,
or a half-written file left). Exit status 0 when lost == 0 and every fault recovered.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
TINY = {
    "model": {"hidden_dim": 16},
    "maml": {"meta_epochs": 2, "steps_per_epoch": 3, "inner_steps": 2, "num_tasks_per_batch": 4,
             "val_tasks": 8, "support_size": 16, "query_size": 8, "patience": None},
    "static": {"epochs": 3, "batch_size": 64, "patience": None},
}
_SUMMARY_KEYS = ("aggregate", "comparisons", "skill", "results", "skipped", "symbols", "years")


@dataclass
class Outcome:
    """One injected fault and what came of it."""

    kind: str
    detail: str
    recovered: bool = False  # the run after the fault finished with status 0
    identical: bool = False  # same results as the reference, nothing half-written
    note: str = ""


@dataclass
class Chaos:
    """The shared setup: work folder, universe, tiny config, reference results."""

    work: Path
    universe: str
    symbols: list[str]
    year: int
    train_years: int
    rng: random.Random
    reference: dict[str, Any] = field(default_factory=dict)
    ref_seconds: float = 0.0
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def src(self) -> Path:
        """A snapshot of the code taken at the start: edits to the working tree during the run change nothing."""
        return self.work / "src"

    def snapshot(self) -> None:
        ignore = shutil.ignore_patterns("__pycache__", "cache", "results", "*.egg-info")
        for name in ("maml_strategy", "backtests", "strategies"):
            shutil.copytree(REPO / name, self.src / name, ignore=ignore, dirs_exist_ok=True)

    # ------------------------------------------------------------------ runs
    def wf_cmd(self, cache: Path, out: Path, *extra: str) -> list[str]:
        return [sys.executable, str(self.src / "backtests" / "walk_forward.py"), "--universe", self.universe,
                "--symbols", ",".join(self.symbols), "--first", str(self.year), "--last", str(self.year),
                "--train-years", str(self.train_years), "--config", str(self.work / "tiny.yaml"),
                "--cache-dir", str(cache), "--out", str(out), "--quiet", *extra]

    def start(self, cmd: list[str]) -> subprocess.Popen:
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(self.src))  # the snapshot, not the live tree
        return subprocess.Popen(cmd, cwd=self.work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                env=env, start_new_session=True)

    def run(self, cmd: list[str], timeout: float = 600) -> tuple[int, str]:
        p = self.start(cmd)
        try:
            _, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            _, err = p.communicate()
            return 124, err
        return p.returncode, err

    def kill_after(self, cmd: list[str], delay: float) -> bool:
        """Start ``cmd`` and SIGKILL its process group after ``delay`` s; True if it was still running."""
        p = self.start(cmd)
        try:
            p.wait(timeout=delay)
            return False
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            return True

    # ------------------------------------------------------------------ checks
    def results(self, out: Path) -> dict[str, Any] | None:
        try:
            summary = json.loads((out / "summary.json").read_text())
            csv = (out / "results.csv").read_bytes()
        except (OSError, ValueError):
            return None
        return {"summary": {k: summary.get(k) for k in _SUMMARY_KEYS}, "csv": csv}

    def compare(self, o: Outcome, status: int, err: str, out: Path, *roots: Path) -> Outcome:
        from maml_strategy.atomic import leftover_temp_files

        o.recovered = status == 0
        got = self.results(out) if o.recovered else None
        left = [p for r in roots for p in leftover_temp_files(r)]
        o.identical = got is not None and got == self.reference and not left
        if not o.recovered:
            o.note = f"exit {status}: {err.strip().splitlines()[-1] if err.strip() else ''}"
        elif got != self.reference:
            o.note = "results differ from the reference"
        elif left:
            o.note = f"left {left[0].name}"
        self.outcomes.append(o)
        return o

    def fresh(self, name: str) -> tuple[Path, Path]:
        base = self.work / name
        shutil.rmtree(base, ignore_errors=True)
        return base / "cache", base / "out"

    def copy_reference_cache(self, name: str) -> tuple[Path, Path]:
        cache, out = self.fresh(name)
        shutil.copytree(self.work / "ref" / "cache", cache)
        return cache, out


# ---------------------------------------------------------------------- fault classes
def fault_kill(c: Chaos, n: int) -> None:
    """SIGKILL the walk-forward at seeded random moments (repeatedly on one cache), then resume."""
    for i in range(n):
        cache, out = c.fresh(f"kill{i}")
        delays = sorted(c.rng.uniform(0.15, 0.95) * c.ref_seconds for _ in range(1 + i % 2))
        for d in delays:  # one or two kills in a row on the same cache, each then partly resumed
            c.kill_after(c.wf_cmd(cache, out), d)
        status, err = c.run(c.wf_cmd(cache, out))
        c.compare(Outcome("kill -9 + resume", f"after {', '.join(f'{d:.1f}' for d in delays)} s"), status, err,
                  out, cache, out)


def _entry_files(cache: Path) -> dict[str, list[Path]]:
    return {"training": sorted(p for p in cache.glob("*/*") if p.parent.name not in ("features", "wf")
                               and not p.parent.name.startswith(".")),
            "features": sorted(p for p in (cache / "features").glob("*/*.npy")),
            "backtest": sorted((cache / "wf").glob("*.json"))}


def fault_corrupt(c: Chaos, how: str, targets: list[tuple[str, str | None]]) -> None:
    """Truncate or overwrite with garbage one file of a finished cache, rerun on it."""
    for kind, name in targets:
        cache, out = c.copy_reference_cache(f"{how}-{kind}-{name or 'any'}")
        files = [p for p in _entry_files(cache)[kind] if name is None or p.name == name]
        if not files:
            continue
        victim = c.rng.choice(files)
        size = victim.stat().st_size
        if how == "truncate":
            with open(victim, "r+b") as fh:
                fh.truncate(c.rng.randrange(0, max(size // 2, 1)))
        else:
            with open(victim, "r+b") as fh:
                fh.seek(c.rng.randrange(0, max(size - 64, 1)))
                fh.write(bytes(c.rng.randrange(256) for _ in range(64)))
        status, err = c.run(c.wf_cmd(cache, out))
        warnings = err.count("incomplete or corrupt")
        o = c.compare(Outcome(f"{how} cache file", f"{kind}/{victim.name}"), status, err, out, cache, out)
        if o.recovered and warnings != 1:  # the defect must be named exactly once, then recomputed
            o.recovered = False
            o.note = (o.note + "; " if o.note else "") + f"{warnings} warnings instead of one"


def fault_concurrent(c: Chaos, n: int) -> None:
    """Two walk-forwards on the same fresh cache folder at the same time (separate outputs)."""
    for i in range(n):
        cache, out = c.fresh(f"race{i}")
        procs = [c.start(c.wf_cmd(cache, out.parent / f"out{j}")) for j in range(2)]
        errs = [p.communicate(timeout=900)[1] for p in procs]
        for j, p in enumerate(procs):
            c.compare(Outcome("two concurrent runs", f"run {j + 1} of 2, race {i + 1}"), p.returncode, errs[j],
                      out.parent / f"out{j}", cache, out.parent)


def fault_ray_worker(c: Chaos) -> None:
    """Kill one Ray worker process mid-task; the task is retried and the run completes."""
    cache, out = c.fresh("ray")
    p = c.start(c.wf_cmd(cache, out, "--executor", "ray", "--workers", "2"))
    killed = ""
    t0 = time.monotonic()
    while p.poll() is None and not killed and time.monotonic() - t0 < 300:
        time.sleep(0.5)
        pids = _our_ray_workers(p.pid)
        if pids and time.monotonic() - t0 > 2:
            victim = c.rng.choice(pids)
            try:
                os.kill(victim, signal.SIGKILL)
                killed = f"worker pid {victim} at {time.monotonic() - t0:.0f} s"
            except ProcessLookupError:
                pass
    _, err = p.communicate(timeout=900)
    c.compare(Outcome("Ray worker killed", killed or "no worker seen (not injected)"), p.returncode, err, out,
              cache, out)


def _our_ray_workers(session: int) -> list[int]:
    """Pids of Ray workers running one of our tasks, in our run's session only (never another user's Ray)."""
    r = subprocess.run(["ps", "-eo", "pid=,sid=,args="], capture_output=True, text=True)
    pids = []
    for line in r.stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[1] == str(session) and parts[2].startswith(("ray::train_task", "ray::backtest_task")):
            pids.append(int(parts[0]))
    return pids


def fault_replay(c: Chaos, n: int) -> None:
    """SIGKILL ``paper_trade.py --replay`` at a random moment, restart on the same journal."""
    csv = Path(c.universe) / f"{c.symbols[0]}.csv"
    cmd = lambda journal: [sys.executable, str(c.src / "backtests" / "paper_trade.py"), "--symbol", c.symbols[0],  # noqa: E731
                           "--config", str(c.work / "tiny.yaml"), "--replay", str(csv), "--start", f"{c.year}-01-01",
                           "--end", f"{c.year}-12-31", "--train-years", str(c.train_years),
                           "--cache-dir", str(c.work / "replay-cache"), "--journal", str(journal)]
    ref = c.work / "replay" / "ref.json"
    t0 = time.monotonic()
    status, err = c.run(cmd(ref))
    if status != 0:
        c.outcomes.append(Outcome("kill -9 of replay", "reference run failed", note=err.strip()[-200:]))
        return
    t0 = time.monotonic()
    c.run(cmd(c.work / "replay" / "timing.json"))  # cached model: the restart's real duration
    seconds = time.monotonic() - t0
    want = _journal_state(ref)
    for i in range(n):
        path = c.work / "replay" / f"kill{i}.json"
        delay = c.rng.uniform(0.3, 0.95) * seconds
        c.kill_after(cmd(path), delay)
        status, err = c.run(cmd(path))
        o = Outcome("kill -9 of replay", f"after {delay:.1f} s of {seconds:.1f}")
        o.recovered = status == 0
        got = _journal_state(path) if o.recovered else None
        from maml_strategy.atomic import leftover_temp_files

        left = [p for p in leftover_temp_files(path.parent) if p.name.startswith(f".{path.name}")]
        o.identical = got == want and not left
        o.note = "" if o.identical else ("journal differs" if got != want else f"left {left}")
        c.outcomes.append(o)


def _journal_state(path: Path) -> Any:
    try:
        s = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    orders = sorted((r, o["symbol"], o["side"], o["size"], o["filled"], o["avg_price"], o["status"])
                    for r, o in s["orders"].items())
    fills = [(f["fill_id"], f["ref_id"], f["size"], f["price"], f["commission"]) for f in s["fills"]]
    return {"orders": orders, "fills": fills, "positions": s["positions"], "cash": s["cash"]}


# ---------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from maml_strategy.cli import make_parser, positive_int

    p = make_parser(__doc__)
    p.add_argument("--quick", action="store_true", help="the >= 10-fault set that fits in minutes (no Ray)")
    p.add_argument("--universe", default=str(REPO.parent / "shared" / "data" / "universe"), help="CSV folder")
    p.add_argument("--symbols", default="AFL,CL", help="comma-separated symbols (2-3)")
    p.add_argument("--year", type=int, default=2012, help="the one test year")
    p.add_argument("--train-years", type=positive_int, default=3, help="training years before it (>= 3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fault moments and targets")
    p.add_argument("--work", help="work folder (default: a temp folder, removed at the end)")
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import yaml

    from maml_strategy.cli import error

    args = parse_args(argv)
    if not Path(args.universe).is_dir():
        error(f"{args.universe} is not a folder of CSVs", flag="--universe")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    c = Chaos(work, args.universe, args.symbols.split(","), args.year, args.train_years, random.Random(args.seed))
    t_all = time.monotonic()
    c.snapshot()
    try:
        cache, out = c.fresh("ref")
        t0 = time.monotonic()
        status, err = c.run(c.wf_cmd(cache, out))
        c.ref_seconds = time.monotonic() - t0
        if status != 0:
            error(f"the reference run failed: {err.strip().splitlines()[-1] if err.strip() else status}")
        c.reference = c.results(out) or {}
        print(f"reference: {len(c.symbols)} symbols, test year {c.year}, {c.train_years} training years, "
              f"{c.ref_seconds:.1f} s", flush=True)
        fault_kill(c, 3 if args.quick else 6)
        fault_corrupt(c, "truncate", [("training", "gbdt.model"), ("features", None), ("backtest", None)])
        fault_corrupt(c, "garbage", [("training", "maml.pt"), ("backtest", None)])
        fault_concurrent(c, 1 if args.quick else 2)
        if not args.quick:
            fault_corrupt(c, "truncate", [("training", "static.pt"), ("training", "manifest.json")])
            fault_ray_worker(c)
        fault_replay(c, 1 if args.quick else 3)
    finally:
        if not args.keep and not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return report(c.outcomes, time.monotonic() - t_all)


def report(outcomes: list[Outcome], seconds: float) -> int:
    """One row per fault class, then ``faults=N recovered=R identical=I lost=L``; 0 when nothing was lost."""
    by: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by.setdefault(o.kind, []).append(o)
    print(f"\n{'fault class':<22} {'faults':>6} {'recovered':>9} {'identical':>9}  notes")
    for kind, rows in by.items():
        notes = "; ".join(f"{o.detail}: {o.note}" for o in rows if o.note) or ", ".join(o.detail for o in rows)
        print(f"{kind:<22} {len(rows):>6} {sum(o.recovered for o in rows):>9} {sum(o.identical for o in rows):>9}  "
              f"{notes[:150]}")
    n, r, i = len(outcomes), sum(o.recovered for o in outcomes), sum(o.identical for o in outcomes)
    print(f"total {seconds:.0f} s")
    print(f"faults={n} recovered={r} identical={i} lost={n - i}")
    return 0 if n and r == n and i == n else 1


if __name__ == "__main__":
    from maml_strategy.cli import run_main

    sys.exit(run_main(main))
