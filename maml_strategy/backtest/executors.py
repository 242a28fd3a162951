"""Where sweep tasks run: in this process (default) or on Ray (optional extra ``scale``).

Both executors take the same module-level task functions and argument tuples
and return results in submission order, so a sweep gives identical results
with either. A progress bar counts finished tasks.

Example:
    >>> ex = LocalExecutor()
    >>> ex.map(pow, [(2, 3), (3, 2)], desc="demo", progress=False)
    [8, 9]
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from typing import Any

from tqdm import tqdm

from maml_strategy.errors import ConfigError

__all__ = ["Executor", "LocalExecutor", "RayExecutor", "make_executor", "check_ray_address"]


class Executor:
    """Runs ``fn(*args)`` for each argument tuple; results in submission order."""

    name = "base"

    def map(self, fn: Callable[..., Any], args: Sequence[tuple[Any, ...]], *, desc: str = "", progress: bool = True) -> list[Any]:
        raise NotImplementedError

    def close(self) -> None:
        """Release resources (no-op for the local executor)."""


class LocalExecutor(Executor):
    """Run tasks one after another in this process (no extra dependency)."""

    name = "local"

    def map(self, fn: Callable[..., Any], args: Sequence[tuple[Any, ...]], *, desc: str = "", progress: bool = True) -> list[Any]:
        out = []
        for a in tqdm(args, desc=desc, disable=not progress or not args, leave=False):
            out.append(fn(*a))
        return out


def check_ray_address(address: str, timeout: float = 3.0) -> None:
    """Fail fast with a clear message when a Ray head at ``host:port`` does not answer.

    Raises:
        ConfigError: malformed address or nothing listening there.
    """
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--ray-address {address!r} must look like HOST:PORT (e.g. 10.0.0.5:6379) or 'auto'")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise ConfigError(
            f"the Ray cluster at {address} does not answer ({exc.strerror or exc}); start it with `ray start --head` "
            "or drop --ray-address to start a local Ray"
        ) from exc


class RayExecutor(Executor):
    """Run each task as a Ray task, on a local Ray with ``workers`` CPUs or on a cluster at ``address``.

    Fault tolerance: a task whose worker process is killed is retried (``MAX_RETRIES``, system errors only);
    a killed driver loses nothing either, since every finished task is in the on-disk cache and the next
    run resumes from it.
    """

    name = "ray"
    MAX_RETRIES = 3  # reruns of a task whose worker process died (system errors only)

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        try:
            import ray
        except ImportError as exc:
            raise ConfigError('--executor ray needs Ray: pip install -e ".[scale]"') from exc
        if address:
            check_ray_address(address)
        self._ray = ray
        self._own = not ray.is_initialized()
        if self._own:
            kwargs: dict[str, Any] = {"address": address} if address else {"num_cpus": workers}
            # the driver-side "Token authentication is enabled for this Ray cluster" notice on every run
            __import__("logging").getLogger("ray._private.authentication.authentication_token_setup").setLevel("ERROR")
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, **kwargs)
        self._remote: dict[Any, Any] = {}

    def map(self, fn: Callable[..., Any], args: Sequence[tuple[Any, ...]], *, desc: str = "", progress: bool = True) -> list[Any]:
        ray = self._ray
        # a worker process that dies mid-task (killed, OOM, node lost) is a system error: Ray reruns the task,
        # up to MAX_RETRIES times; an exception raised by the task itself (bad data, a bug) is not retried.
        # Tasks are deterministic and publish their cache entries atomically, so a rerun gives the same result.
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
                    out[order[r]] = ray.get(r)
                    bar.update(1)
        return out

    def close(self) -> None:
        if self._own and self._ray.is_initialized():
            self._ray.shutdown()


def make_executor(name: str, *, workers: int | None = None, address: str | None = None) -> Executor:
    """``"local"`` (default, in-process) or ``"ray"``.

    Raises:
        ConfigError: unknown name, Ray missing, or the Ray address does not answer.
    """
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(workers, address)
    raise ConfigError(f"unknown executor {name!r}; use --executor local or --executor ray")
