"""A two-node Ray cluster on 127.0.0.1 whose worker node sees none of the driver's files gives the local results.

The head runs no tasks (``--num-cpus 0``); the worker node runs in its own mount namespace
(``unshare -m``) where tmpfs mounts hide the checkout's package, ``../shared/data`` and the
run's folder (config, cache, outputs). Code, data and models can reach it only through Ray.
Every Ray process started here uses its own temp dir and ports, so no other Ray instance of
this machine is touched (``/tmp/ray/ray_current_cluster`` included); the nodes are stopped
by their process groups, and any process left under our temp dir by its pid.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import real_data_dir
from tests.helpers import tiny_config_file

REPO = Path(__file__).resolve().parents[1]
RAY = Path(sys.executable).with_name("ray")
SYMBOLS = "ACGL,AFL,AIG"


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _node_ports(ports: list[int]) -> list[str]:
    names = ("--node-manager-port", "--object-manager-port", "--runtime-env-agent-port", "--dashboard-agent-grpc-port",
             "--dashboard-agent-listen-port", "--metrics-export-port")
    return [a for name, p in zip(names, ports) for a in (name, str(p))]


def _pids_under(temp_dir: str) -> list[int]:
    """Pids of processes whose command line names our temp dir (ours only)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if temp_dir.encode() in (d / "cmdline").read_bytes():
                    pids.append(int(d.name))
            except OSError:
                continue
    return [p for p in pids if p != os.getpid()]


def _stop(procs: list[subprocess.Popen], temp_dir: str) -> None:
    for p in reversed(procs):  # worker node first, then the head
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(p.pid, sig)  # its own process group (start_new_session)
            except ProcessLookupError:
                break
            try:
                p.wait(timeout=15)
                break
            except subprocess.TimeoutExpired:
                continue
    deadline = time.monotonic() + 15
    while (left := _pids_under(temp_dir)) and time.monotonic() < deadline:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.5)


def _wait_for_cpus(address: str, want: float, env: dict[str, str], timeout: float = 120) -> None:
    """Wait until the cluster at ``address`` offers ``want`` CPUs (the worker node has joined)."""
    probe = ("import sys, ray\n"
             "ray.init(address=sys.argv[1], log_to_driver=False, include_dashboard=False)\n"
             "sys.exit(ray.cluster_resources().get('CPU', 0) < float(sys.argv[2]))\n")
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        r = subprocess.run([sys.executable, "-c", probe, address, str(want)], capture_output=True, text=True,
                           timeout=60, env=env)
        if r.returncode == 0:
            return
        last = r.stderr[-500:]
        time.sleep(2)
    raise AssertionError(f"the worker node did not join {address}: {last}")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], list[Path]]]:
    pytest.importorskip("ray")
    data = real_data_dir()
    if not (data / "universe").is_dir():
        pytest.skip(f"no real universe at {data / 'universe'}")
    if os.geteuid() != 0 or subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("mount namespaces are not allowed here (unshare -m needs root or CAP_SYS_ADMIN): cannot hide "
                    "the driver's files from a worker node")
    record = Path("/tmp/ray/ray_current_cluster")
    before = record.read_text() if record.exists() else None
    temp_dir = tempfile.mkdtemp(prefix="ray_i25_", dir="/tmp")  # short: Ray's socket paths must stay < 108 chars
    gcs, *rest = _free_ports(13)
    # Ray's token authentication: one token for every node and driver of this cluster, none from ~/.ray
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN_PATH")}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16))
    common = ["--node-ip-address", "127.0.0.1", "--disable-usage-stats", "--block"]
    head = [str(RAY), "start", "--head", "--num-cpus", "0", "--port", str(gcs), "--include-dashboard", "false",
            "--temp-dir", f"{temp_dir}/head", *_node_ports(rest[:6]), *common]
    hidden = [REPO / "maml_strategy", data, tmp_path]
    mounts = " && ".join(f"mount -t tmpfs tmpfs {p}" for p in hidden)
    worker = ["unshare", "-m", "--propagation", "private", "sh", "-c",
              f"{mounts} && exec " + " ".join([str(RAY), "start", "--address", f"127.0.0.1:{gcs}", "--num-cpus", "2",
                                               "--temp-dir", f"{temp_dir}/worker", *_node_ports(rest[6:12]), *common])]
    procs: list[subprocess.Popen] = []
    log = open(tmp_path.parent / f"{tmp_path.name}-ray.log", "w")  # noqa: SIM115 - closed below
    try:
        procs.append(subprocess.Popen(head, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        deadline = time.monotonic() + 60
        while socket.socket().connect_ex(("127.0.0.1", gcs)) and time.monotonic() < deadline:
            time.sleep(0.5)
        procs.append(subprocess.Popen(worker, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        yield f"127.0.0.1:{gcs}", env, hidden
    finally:
        _stop(procs, temp_dir)
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)
        assert _pids_under(temp_dir) == []
        assert (record.read_text() if record.exists() else None) == before  # another Ray's record, untouched


def _wf(tmp: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "backtests" / "walk_forward.py"), "--universe",
                           str(real_data_dir() / "universe"), "--symbols", SYMBOLS, "--first", "2019", "--last", "2019",
                           "--train-years", "5", "--config", str(tmp / "tiny.yaml"), "--quiet", *extra],
                          capture_output=True, text=True, timeout=900, cwd=tmp, env=env)


def _numbers(out: Path) -> dict:
    s = json.loads((out / "summary.json").read_text())
    return {k: s[k] for k in ("aggregate", "comparisons", "skill", "skipped", "symbols", "years")} | {
        "results": sorted(s["results"], key=lambda r: (r["symbol"], r["year"], r["seed"], r["strategy"]))}


@pytest.mark.slow  # starts two Ray nodes and runs two small walk-forwards (~2-4 min); run with -m slow
def test_two_node_cluster_without_shared_files_gives_local_results(cluster, tmp_path: Path) -> None:
    from maml_strategy.atomic import check_entry, leftover_temp_files, read_json_entry

    address, env, hidden = cluster
    tiny_config_file(tmp_path)
    _wait_for_cpus(address, 2, env)
    r = subprocess.run([sys.executable, "-c", (
        "import os, sys, ray\nray.init(address=sys.argv[1], log_to_driver=False)\n"
        "print(ray.get(ray.remote(num_cpus=1)(lambda ps: [os.path.exists(os.path.join(p, f)) for p, f in ps])"
        ".remote([(sys.argv[2], '__init__.py'), (sys.argv[3], 'SPY.csv'), (sys.argv[4], 'tiny.yaml')])))"),
        address, *map(str, hidden)], capture_output=True, text=True, timeout=120, env=env)
    assert r.stdout.strip() == "[False, False, False]", r.stdout + r.stderr[-2000:]  # the worker node sees none

    t0 = time.monotonic()
    c = _wf(tmp_path, "--executor", "ray", "--ray-address", address, "--cache-dir", str(tmp_path / "cache"),
            "--out", str(tmp_path / "out_cluster"), env=env)
    assert c.returncode == 0, c.stderr[-3000:]
    cluster_s = time.monotonic() - t0
    loc = _wf(tmp_path, "--cache-dir", str(tmp_path / "cache_local"), "--out", str(tmp_path / "out_local"))
    assert loc.returncode == 0, loc.stderr[-3000:]
    assert _numbers(tmp_path / "out_cluster") == _numbers(tmp_path / "out_local")
    s = json.loads((tmp_path / "out_cluster" / "summary.json").read_text())
    assert s["executor"] == "ray" and s["tasks"] == {"train": 1, "train_cached": 0, "backtest": 3, "backtest_cached": 0}

    cache = tmp_path / "cache"  # every artifact is in the driver's cache, intact
    features = sorted((cache / "features").iterdir())
    assert [f.name.split("-")[0] for f in features] == SYMBOLS.split(",")
    assert all(check_entry(f) is None for f in features)
    assert check_entry(cache / s["training"][0]["key"]) is None
    results = sorted((cache / "wf").glob("*.json"))
    assert len(results) == 3 and all(read_json_entry(p) is not None for p in results)
    assert leftover_temp_files(cache) == [] and leftover_temp_files(tmp_path / "out_cluster") == []
    print(f"two-node walk-forward: {cluster_s:.0f} s")
