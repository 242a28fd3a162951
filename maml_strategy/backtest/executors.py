"""Where sweep tasks run: in this process (default) or on Ray (optional extra ``scale``), one machine or a cluster.

Both executors take the same module-level task functions and argument tuples
and return results in submission order, so a sweep gives identical results
with either. A progress bar counts finished tasks; ``on_result`` sees each
result on the driver as soon as it is there (the walk-forward writes its cache
from it, so a killed run resumes).

Data reaches the tasks through :meth:`Executor.put` handles, which a task
resolves with :func:`fetch`: the value itself here, an object-store reference on
Ray. With Ray, the package's code travels with every task (:func:`runtime_env`),
so a node needs only Python, Ray and the dependencies, not the project or the
driver's files.

Example:
    >>> ex = LocalExecutor()
    >>> ex.map(pow, [(2, 3), (3, 2)], desc="demo", progress=False)
    [8, 9]
    >>> fetch(ex.put([1, 2]))
    [1, 2]
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from maml_strategy.errors import ConfigError

__all__ = ["Executor", "LocalExecutor", "RayExecutor", "make_executor", "check_ray_address", "fetch", "runtime_env",
           "RAY_CONNECT_TIMEOUT_S"]

RAY_CONNECT_TIMEOUT_S = 20.0  # longest wait for a Ray head to answer (then one error line, never a hang)
OnResult = Callable[[int, Any], None]


class Executor:
    """Runs ``fn(*args)`` for each argument tuple; results in submission order."""

    name = "base"

    def put(self, value: Any) -> Any:
        """A handle to ``value`` that a task resolves with :func:`fetch` (here: the value itself)."""
        return value

    def map(self, fn: Callable[..., Any], args: Sequence[tuple[Any, ...]], *, desc: str = "", progress: bool = True,
            on_result: OnResult | None = None) -> list[Any]:
        """Run ``fn(*a)`` for every ``a`` in ``args``; ``on_result(i, result)`` runs on the driver as each finishes."""
        raise NotImplementedError

    def close(self) -> None:
        """Release resources (no-op for the local executor)."""


class LocalExecutor(Executor):
    """Run tasks one after another in this process (no extra dependency)."""

    name = "local"

    def map(self, fn: Callable[..., Any], args: Sequence[tuple[Any, ...]], *, desc: str = "", progress: bool = True,
            on_result: OnResult | None = None) -> list[Any]:
        out = []
        for i, a in enumerate(tqdm(args, desc=desc, disable=not progress or not args, leave=False)):
            out.append(fn(*a))
            if on_result is not None:
                on_result(i, out[-1])
        return out


def fetch(handle: Any) -> Any:
    """The value behind a handle from :meth:`Executor.put`; a dict of handles gives a dict of values.

    Outside Ray (or for a plain value) the handle is the value. Several object-store
    references are fetched in one ``ray.get``.
    """
    ray = sys.modules.get("ray")
    ref_type = getattr(ray, "ObjectRef", None)
    if ref_type is None:
        return handle
    if isinstance(handle, ref_type):
        return ray.get(handle)
    if isinstance(handle, dict) and any(isinstance(v, ref_type) for v in handle.values()):
        keys = list(handle)
        return dict(zip(keys, ray.get([handle[k] for k in keys])))
    return handle


def runtime_env() -> dict[str, Any]:
    """The Ray runtime environment of every task: this package's code (``py_modules``), without byte-code.

    Example:
        >>> env = runtime_env()
        >>> Path(env["py_modules"][0]).name, "__pycache__" in env["excludes"]
        ('maml_strategy', True)
    """
    import maml_strategy

    return {"py_modules": [str(Path(maml_strategy.__file__).resolve().parent)], "excludes": ["__pycache__", "*.pyc"]}


# Asks the head's GCS for the cluster's Ray and Python versions (in a child process, so a port that accepts
# connections but is no Ray head costs at most RAY_CONNECT_TIMEOUT_S, never a hang of the driver).
_PROBE = """
import json, sys
from ray._raylet import GcsClient
from ray._common.usage.usage_lib import get_cluster_metadata
meta = get_cluster_metadata(GcsClient(address=sys.argv[1]))
print(json.dumps({"ray": meta.get("ray_version"), "python": meta.get("python_version")}))
"""
_ANSWERED: set[str] = set()  # addresses whose head answered with our versions (probe once per process)


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--ray-address {address!r} must look like HOST:PORT (e.g. 10.0.0.5:6379) or 'auto'")
    return host, int(port)


def _listening(host: str, port: int, timeout: float) -> OSError | None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return exc


def _versions() -> tuple[str, str]:
    import platform

    import ray

    return ray.__version__, platform.python_version()


def check_ray_address(address: str, timeout: float = 3.0) -> None:
    """Fail fast with one clear message unless a Ray head of our Ray and Python versions answers at ``host:port``.

    The connection is tried for ``timeout`` seconds, the head's answer awaited for at most
    :data:`RAY_CONNECT_TIMEOUT_S`.

    Raises:
        ConfigError: malformed address, nothing listening there, no Ray head answering, or a head running
            another Ray or Python version.
    """
    if address == "auto" or address in _ANSWERED:
        return
    host, port = _split(address)
    exc = _listening(host, port, timeout)
    if exc is not None:
        raise ConfigError(
            f"the Ray cluster at {address} does not answer ({exc.strerror or exc}); start it with `ray start --head` "
            "or drop --ray-address to start a local Ray")
    try:
        r = subprocess.run([sys.executable, "-c", _PROBE, f"{host}:{port}"], capture_output=True, text=True,
                           timeout=RAY_CONNECT_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
        if "InvalidAuthToken" in err or "Unauthenticated" in err:
            raise ConfigError(
                f"the Ray cluster at {address} refuses this driver's authentication token; give the driver the "
                "head's token (the same RAY_AUTH_TOKEN, or a copy of the head's ~/.ray/auth_token)") from None
        raise ConfigError(
            f"the Ray cluster at {address} does not answer: something listens there but no Ray head replied within "
            f"{RAY_CONNECT_TIMEOUT_S:.0f} s; pass the address `ray start --head` printed (its GCS port, 6379 by "
            "default)") from None
    if r.returncode != 0:  # this Ray lacks the probe's internals: ray.init will check the versions itself
        return
    theirs = json.loads(r.stdout.strip().splitlines()[-1])
    ours = dict(zip(("ray", "python"), _versions()))
    if theirs != ours:
        raise ConfigError(
            f"the Ray cluster at {address} runs Ray {theirs['ray']} on Python {theirs['python']}, this driver Ray "
            f"{ours['ray']} on Python {ours['python']}; install the same Ray and Python on every node and the driver "
            f"(pip install ray=={ours['ray']})")
    _ANSWERED.add(address)


def _default_cluster(note: Callable[[str], None]) -> str | None:
    """The Ray head to join when none was named: ``$RAY_ADDRESS``, else a live one recorded by ``ray start``.

    Ray remembers the last ``ray start --head`` of this machine in ``/tmp/ray/ray_current_cluster`` and a
    plain ``ray.init`` joins it, even when that head has died. A dead one is ignored (None: start a
    local Ray); a live one is joined, with a note.
    """
    env = os.environ.get("RAY_ADDRESS", "").strip()
    if env:
        note(f"note: joining the Ray cluster at {env} named by $RAY_ADDRESS; --workers is ignored")
        return env
    from ray._common.utils import get_ray_address_file

    record = Path(get_ray_address_file(None))
    try:
        address = record.read_text().strip()
    except OSError:
        return None
    try:
        host, port = _split(address)
    except ConfigError:
        return None  # unreadable record: not a cluster
    if _listening(host, port, 1.0) is not None:
        return None  # its head is gone: the record is stale
    try:
        check_ray_address(address)
    except ConfigError as exc:
        raise ConfigError(f"{record} names a Ray head that this run cannot join ({exc}); stop that head with `ray "
                          f"stop`, or delete {record} to start a local Ray, or pass --ray-address") from None
    note(f"note: joining the Ray cluster at {address} that `ray start` left running on this machine ({record}); "
         "--workers is ignored; `ray stop` stops it")
    return address


def _note(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class RayExecutor(Executor):
    """Run each task as a Ray task, on a local Ray with ``workers`` CPUs or on a cluster at ``address``.

    The package travels with every task (:func:`runtime_env`) and the data through the object store
    (:meth:`put`), so the nodes of a cluster need no copy of the project or of the driver's files.

    Fault tolerance: a task whose worker process is killed is retried (``MAX_RETRIES``, system errors only);
    a killed driver loses nothing either, since the driver writes every finished task into its on-disk cache
    as it arrives and the next run resumes from it.
    """

    name = "ray"
    MAX_RETRIES = 3  # reruns of a task whose worker process died (system errors only)

    def __init__(self, workers: int | None = None, address: str | None = None, *,
                 note: Callable[[str], None] | None = None) -> None:
        try:
            import ray
        except ImportError as exc:
            raise ConfigError('--executor ray needs Ray: pip install -e ".[scale]"') from exc
        note = note or _note
        self._ray = ray
        self._own = not ray.is_initialized()
        self.address = address
        if self._own:
            if address:
                check_ray_address(address)
            else:
                self.address = _default_cluster(note)
            opts: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False,
                                    "runtime_env": runtime_env()}
            if self.address:
                opts["address"] = self.address
            else:  # "local": a new Ray of our own, whatever /tmp/ray/ray_current_cluster says
                opts.update(address="local", num_cpus=workers)
            # the driver-side "Token authentication is enabled for this Ray cluster" notice on every run
            __import__("logging").getLogger("ray._private.authentication.authentication_token_setup").setLevel("ERROR")
            try:
                ray.init(**opts)
            except RuntimeError as exc:
                if "Version mismatch" not in str(exc):
                    raise
                raise ConfigError(f"the Ray cluster at {self.address} runs another Ray or Python version: "
                                  f"{' '.join(str(exc).split())}; install the same versions on every node") from None
            except (ConnectionError, ValueError) as exc:
                raise ConfigError(f"cannot join the Ray cluster at {self.address}: {' '.join(str(exc).split())}; "
                                  "check --ray-address or drop it to start a local Ray") from None
        self._remote: dict[Any, Any] = {}

    def put(self, value: Any) -> Any:
        """An object-store reference to ``value``: sent once, shared by every task that receives it."""
        return self._ray.put(value)

    def map(self, fn: Callable[..., Any], args: Sequence[tuple[Any, ...]], *, desc: str = "", progress: bool = True,
            on_result: OnResult | None = None) -> list[Any]:
        ray = self._ray
        # a worker process that dies mid-task (killed, OOM, node lost) is a system error: Ray reruns the task,
        # up to MAX_RETRIES times; an exception raised by the task itself (bad data, a bug) is not retried.
        # Tasks are deterministic and write nothing, so a rerun gives the same result.
        remote = self._remote.setdefault(
            fn, ray.remote(num_cpus=1, max_retries=self.MAX_RETRIES, retry_exceptions=False)(fn))
        refs = [remote.remote(*a) for a in args]
        order = {r: i for i, r in enumerate(refs)}
        out: list[Any] = [None] * len(refs)
        pending = list(refs)
        with tqdm(total=len(refs), desc=desc, disable=not progress or not refs, leave=False) as bar:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for r in done:
                    i = order[r]
                    out[i] = ray.get(r)
                    if on_result is not None:
                        on_result(i, out[i])
                    bar.update(1)
        return out

    def close(self) -> None:
        if self._own and self._ray.is_initialized():
            self._ray.shutdown()


def make_executor(name: str, *, workers: int | None = None, address: str | None = None,
                  note: Callable[[str], None] | None = None) -> Executor:
    """``"local"`` (default, in-process) or ``"ray"``; ``note`` receives notes such as joining a running cluster.

    Raises:
        ConfigError: unknown name, Ray missing, or the Ray address does not answer.
    """
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(workers, address, note=note)
    raise ConfigError(f"unknown executor {name!r}; use --executor local or --executor ray")
