"""Atomic files and cache entries: a killed, crashed or concurrent writer never leaves a torn result.

Three building blocks, used by every cache and output writer of the package:

* :func:`atomic_write` / :func:`atomic_path`: one file. The bytes go to a temp
  name in the same folder (``.NAME.PID.XXXX.tmp`` + the file's suffix), are
  ``fsync``-ed, then ``os.replace``-d onto the final name, so a reader sees the
  old file or the new one, never half of one. A failure mid-write removes the
  temp file and leaves the old file untouched.
* :func:`write_entry` / :func:`check_entry`: a directory entry (several files).
  The files are written into a temp directory next to the entry; a
  ``manifest.json`` with the SHA-256 digest and size of every file is written
  LAST, then the temp directory is renamed into place. A reader accepts an
  entry only if its manifest exists and every digest matches
  (:func:`entry_ok`), otherwise it warns once (:class:`CacheWarning`, naming the
  entry and the defect) and the caller recomputes it.
* :func:`write_json_entry` / :func:`read_json_entry`: a one-file JSON entry that
  carries the digest of its own payload.

Concurrency: two processes computing the same entry serialise on
:func:`entry_lock` (a ``filelock`` lock file ``.NAME.lock`` next to the entry),
re-check the entry once they hold the lock, and publish with the atomic rename;
an entry that appears under a writer (another process won) is kept when valid.
Readers never lock: a published entry is immutable. Temp files of a writer that was
killed (SIGKILL skips all cleanup) are swept by the next writer of the same name
once the pid in their name is gone.

Example:
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> with write_entry(root / "e") as tmp:
    ...     _ = (tmp / "a.txt").write_text("hello")
    >>> entry_ok(root / "e"), sorted(p.name for p in (root / "e").iterdir())
    (True, ['a.txt', 'manifest.json'])
    >>> _ = (root / "e" / "a.txt").write_text("hel")  # truncated behind our back
    >>> check_entry(root / "e")
    'a.txt: size 3, manifest says 5 (truncated or replaced)'
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from maml_strategy.errors import MamlStrategyError

__all__ = ["CacheWarning", "OutputError", "MANIFEST", "atomic_write", "atomic_path", "write_entry", "check_entry",
           "entry_ok", "entry_lock", "write_json_entry", "read_json_entry", "file_digest", "output_errors",
           "leftover_temp_files"]

MANIFEST = "manifest.json"
_TMP_TAG = ".tmp"


class CacheWarning(UserWarning):
    """A cache entry was incomplete or corrupt and is recomputed."""


class OutputError(MamlStrategyError, OSError):
    """An output file could not be written (disk full, read-only folder, permission)."""


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 hex digest of a file's bytes.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "x"); _ = open(p, "w").write("abc")
        >>> file_digest(p)[:12]
        'ba7816bf8f01'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(directory: Path) -> None:
    try:  # persist the rename itself (best effort; not supported everywhere)
        fd = os.open(str(directory), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _unlink(path: str | Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _umask() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return old


_FILE_MODE = 0o666 & ~_umask()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _sweep(final: Path) -> None:
    """Remove temp files/dirs of ``final`` left by a killed writer (the pid in their name is gone)."""
    for p in final.parent.glob(f".{glob.escape(final.name)}.*{_TMP_TAG}*"):
        pid = p.name[len(final.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                _unlink(p)


def _prefix(final: Path) -> str:
    return f".{final.name}.{os.getpid()}."


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, skip_empty: bool = False) -> Iterator[Path]:
    """Yield a temp path next to ``path``; on success it is fsync-ed and renamed onto ``path``.

    For writers that take a file name (``DataFrame.to_csv``, ``Figure.savefig``, ``torch.save``):
    the temp name keeps the suffix, so format detection still works. On any error the temp
    file is removed and ``path`` keeps its old content. ``skip_empty=True``: a writer that
    wrote nothing (e.g. a plot with no data) leaves ``path`` as it was.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "out.csv"
        >>> with atomic_path(p) as tmp:
        ...     _ = tmp.write_text("a,b\\n1,2\\n")
        >>> p.read_text()
        'a,b\\n1,2\\n'
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    _sweep(final)
    fd, name = tempfile.mkstemp(prefix=_prefix(final), suffix=_TMP_TAG + final.suffix, dir=str(final.parent))
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, _FILE_MODE)
        yield tmp
        if skip_empty and (not tmp.exists() or tmp.stat().st_size == 0):
            _unlink(tmp)
            return
        _fsync_file(tmp)
        os.replace(tmp, final)
    except BaseException:
        _unlink(tmp)
        raise
    _fsync_dir(final.parent)


def atomic_write(path: str | os.PathLike[str], data: str | bytes, *, mode: int | None = None) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` atomically; returns ``path``.

    Example:
        >>> import tempfile, pathlib
        >>> p = atomic_write(pathlib.Path(tempfile.mkdtemp()) / "s.json", '{"a": 1}')
        >>> p.read_text()
        '{"a": 1}'
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(raw)
        if mode is not None:
            os.chmod(tmp, mode)
    return Path(path)


@contextlib.contextmanager
def output_errors(what: str = "output") -> Iterator[None]:
    """Turn an ``OSError`` (ENOSPC, EROFS, EACCES, ...) raised inside into one :class:`OutputError`.

    Scripts run under :func:`maml_strategy.cli.run_main` then print one ``error:`` line and exit 2.

    Example:
        >>> with output_errors("summary"):  # doctest: +IGNORE_EXCEPTION_DETAIL
        ...     raise OSError(28, "No space left on device", "/out/summary.json")
        Traceback (most recent call last):
        OutputError: cannot write summary /out/summary.json: No space left on device ...
    """
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        code = errno.errorcode.get(exc.errno or 0, "")
        raise OutputError(f"cannot write {what}{where}: {exc.strerror or exc}" + (f" ({code})" if code else "")
                          + "; earlier outputs there are unchanged, free space or pick another --out") from exc


# ------------------------------------------------------------------ directory entries
def _manifest_of(folder: Path) -> dict[str, Any]:
    files = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != MANIFEST:
            files[p.relative_to(folder).as_posix()] = {"sha256": file_digest(p), "size": p.stat().st_size}
    return {"version": 1, "files": files}


def check_entry(folder: str | os.PathLike[str], required: tuple[str, ...] = ()) -> str | None:
    """What is wrong with the entry ``folder`` (None = complete and intact).

    An entry is accepted only if ``manifest.json`` exists and every listed file exists with the
    listed size and SHA-256 digest; ``required`` names files the manifest must list.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return "missing"
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        files = manifest["files"]
    except FileNotFoundError:
        return f"no {MANIFEST} (written incompletely, e.g. by a killed run)"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"unreadable {MANIFEST} ({type(exc).__name__})"
    if not isinstance(files, dict):
        return f"malformed {MANIFEST}"
    for name in required:
        if name not in files:
            return f"{name} missing from the manifest"
    for name, meta in files.items():
        p = folder / name
        try:
            size = p.stat().st_size
        except OSError:
            return f"{name} missing"
        if not isinstance(meta, dict) or size != meta.get("size"):
            return f"{name}: size {size}, manifest says {meta.get('size') if isinstance(meta, dict) else '?'} " \
                   "(truncated or replaced)"
        if file_digest(p) != meta.get("sha256"):
            return f"{name}: SHA-256 differs from the manifest (corrupt)"
    return None


def entry_ok(folder: str | os.PathLike[str], required: tuple[str, ...] = (), *, warn: bool = True) -> bool:
    """True when the entry is intact; a present but defective entry gives one :class:`CacheWarning`."""
    problem = check_entry(folder, required)
    if problem is None:
        return True
    if warn and problem != "missing":
        warnings.warn(f"cache entry {folder} is incomplete or corrupt: {problem}; recomputing it", CacheWarning,
                      stacklevel=2)
    return False


def _discard(folder: Path) -> None:
    """Move a defective entry out of the way (rename first, so readers never see it half-deleted)."""
    trash = Path(tempfile.mkdtemp(prefix=_prefix(folder), suffix=".trash" + _TMP_TAG, dir=str(folder.parent)))
    try:
        os.replace(folder, trash / folder.name)
    except OSError:
        pass
    shutil.rmtree(trash, ignore_errors=True)


@contextlib.contextmanager
def write_entry(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp directory; on success write its manifest LAST and rename it to ``folder``.

    If ``folder`` already exists and is intact (another process finished first), the new copy
    is dropped; a defective one is replaced. On any error the temp directory is removed.
    """
    final = Path(folder)
    final.parent.mkdir(parents=True, exist_ok=True)
    _sweep(final)
    tmp = Path(tempfile.mkdtemp(prefix=_prefix(final), suffix=_TMP_TAG, dir=str(final.parent)))
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        for p in tmp.rglob("*"):
            if p.is_file():
                _fsync_file(p)
        atomic_write(tmp / MANIFEST, json.dumps(_manifest_of(tmp), indent=1, sort_keys=True))
        _fsync_dir(tmp)
        if final.exists() and check_entry(final) is not None:
            _discard(final)
        try:
            os.replace(tmp, final)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or check_entry(final) is not None:
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another writer published an intact entry first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(final.parent)


def entry_lock(entry: str | os.PathLike[str], timeout: float = -1) -> Any:
    """A ``filelock.FileLock`` on ``.NAME.lock`` next to ``entry``: one process computes it at a time.

    Example:
        >>> import tempfile, pathlib
        >>> with entry_lock(pathlib.Path(tempfile.mkdtemp()) / "entry"):
        ...     pass
    """
    from filelock import FileLock

    p = Path(entry)
    p.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(p.parent / f".{p.name}.lock"), timeout=timeout)


# ------------------------------------------------------------------ one-file JSON entries
def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, default=float).encode()


def write_json_entry(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``{"sha256": digest, "data": data}`` atomically (the digest covers the payload).

    Example:
        >>> import tempfile, pathlib
        >>> p = write_json_entry(pathlib.Path(tempfile.mkdtemp()) / "r.json", {"x": 1.5})
        >>> read_json_entry(p)
        {'x': 1.5}
    """
    doc = {"sha256": hashlib.sha256(_canonical(data)).hexdigest(), "data": data}
    return atomic_write(path, json.dumps(doc, default=float))


def read_json_entry(path: str | os.PathLike[str], *, warn: bool = True) -> Any:
    """The payload of a :func:`write_json_entry` file, or None (missing; defective: one :class:`CacheWarning`)."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        problem = f"unreadable ({type(exc).__name__}: truncated or garbage)"
    else:
        if not isinstance(doc, dict) or "sha256" not in doc or "data" not in doc:
            problem = "no digest (written incompletely or by another version)"
        elif hashlib.sha256(_canonical(doc["data"])).hexdigest() != doc["sha256"]:
            problem = "payload differs from its SHA-256 (corrupt)"
        else:
            return doc["data"]
    if warn:
        warnings.warn(f"cache entry {p} is incomplete or corrupt: {problem}; recomputing it", CacheWarning,
                      stacklevel=2)
    return None


def leftover_temp_files(root: str | os.PathLike[str]) -> list[Path]:
    """Temp files or directories of this module under ``root`` (none after a clean or recovered run).

    Example:
        >>> import tempfile
        >>> leftover_temp_files(tempfile.mkdtemp())
        []
    """
    root = Path(root)
    return sorted(p for p in root.rglob(f"*{_TMP_TAG}*") if p.name.startswith(".") or p.name.endswith(_TMP_TAG))
