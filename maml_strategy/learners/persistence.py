"""Integrity-checked model files shared by :class:`~maml_strategy.learners.maml.MAML` and
:class:`~maml_strategy.learners.static.StaticModel`.

A model file is a ``torch.save``'d dict that ``torch.load(weights_only=True)``
can read::

    {
      "format": "maml_strategy.model",
      "format_version": 1,
      "meta": "<canonical JSON>",        # kind, config, model kwargs, feature names,
                                         # library version, scaler's non-tensor state, extra
      "tensors": {name: Tensor},         # "model.<param>", "scaler.<key>", "extra.<key>"
      "sha256": "<hex digest>",          # over meta + every tensor's name/dtype/shape/bytes
    }

:func:`read_model_file` raises :class:`~maml_strategy.errors.ModelError`
(saying what to do) for a missing, truncated, tampered, wrong-kind or
incompatible file.

Example:
    >>> import torch, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "m.pt")
    >>> write_model_file(p, kind="static", meta={"a": 1}, tensors={"model.w": torch.ones(2)})
    >>> meta, tensors = read_model_file(p, kind="static")
    >>> meta["a"], tensors["model.w"].tolist()
    (1, [1.0, 1.0])
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from maml_strategy.errors import ModelError
from maml_strategy.version import __version__

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "payload_digest",
    "write_model_file",
    "read_model_file",
    "split_scaler_state",
    "scaler_from_state",
    "peek_kind",
]

FORMAT_NAME = "maml_strategy.model"
FORMAT_VERSION = 1


def _canonical_json(meta: dict[str, Any]) -> str:
    try:
        return json.dumps(meta, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"model metadata is not JSON-serialisable ({exc}); pass plain str/int/float/list/dict values") from exc


def payload_digest(meta_json: str, tensors: dict[str, Tensor]) -> str:
    """SHA-256 over the metadata JSON and every tensor's name, dtype, shape and bytes."""
    h = hashlib.sha256()
    h.update(FORMAT_NAME.encode())
    h.update(meta_json.encode("utf-8"))
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(b"\x00" + name.encode("utf-8") + b"\x00" + str(t.dtype).encode() + str(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def write_model_file(path: str | os.PathLike[str], *, kind: str, meta: dict[str, Any], tensors: dict[str, Tensor]) -> None:
    """Write a model file atomically (temp file + rename).

    Args:
        path: destination; parent folders are created.
        kind: the learner kind, e.g. ``"maml"`` or ``"static"`` (checked on load; see
            :data:`maml_strategy.learners.LEARNERS`).
        meta: JSON-serialisable metadata (``kind``, ``library_version`` are added).
        tensors: named tensors (copied to CPU, contiguous).
    """
    meta = dict(meta)
    meta["kind"] = kind
    meta["library_version"] = __version__
    meta_json = _canonical_json(meta)
    cpu = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    payload = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "meta": meta_json,
        "tensors": cpu,
        "sha256": payload_digest(meta_json, cpu),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _load_payload(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ModelError(f"model file {str(path)!r} does not exist; train and save a model first or check the path")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, bad pickle, disallowed globals ...
        raise ModelError(
            f"model file {str(path)!r} cannot be read ({type(exc).__name__}: {str(exc)[:200]}); it is truncated, "
            f"corrupt or not a maml_strategy model file. Re-save, re-download or retrain it."
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        raise ModelError(f"{str(path)!r} is not a maml_strategy model file (no {FORMAT_NAME!r} header); retrain and save it")
    return payload


def peek_kind(path: str | os.PathLike[str]) -> str:
    """The kind (``"maml"``, ``"static"``, ...) of a verified model file."""
    meta, _ = read_model_file(path, kind=None)
    return str(meta["kind"])


def read_model_file(path: str | os.PathLike[str], *, kind: str | None) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """Read and verify a model file.

    Args:
        path: file written by :func:`write_model_file`.
        kind: expected kind, or None to accept any.

    Returns:
        ``(meta, tensors)``.

    Raises:
        ModelError: missing, truncated, tampered (digest mismatch), other
            format version, or wrong kind.
    """
    path = Path(path)
    payload = _load_payload(path)
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelError(
            f"model file {str(path)!r} has format version {version!r}; this maml_strategy "
            f"({__version__}) reads version {FORMAT_VERSION}. Retrain and save with this version."
        )
    meta_json, tensors, digest = payload.get("meta"), payload.get("tensors"), payload.get("sha256")
    if (
        not isinstance(meta_json, str)
        or not isinstance(tensors, dict)
        or not isinstance(digest, str)
        or not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in tensors.items())
    ):
        raise ModelError(f"model file {str(path)!r} is malformed (missing meta/tensors/sha256); re-save or retrain it")
    actual = payload_digest(meta_json, tensors)
    if actual != digest:
        raise ModelError(
            f"model file {str(path)!r} failed its integrity check (SHA-256 {actual[:12]}... != stored {digest[:12]}...): "
            f"it was modified or corrupted after saving. Re-download or retrain it; do not use it for trading."
        )
    try:
        meta = json.loads(meta_json)
    except ValueError as exc:
        raise ModelError(f"model file {str(path)!r} has unreadable metadata ({exc}); retrain it") from exc
    if kind is not None and meta.get("kind") != kind:
        raise ModelError(
            f"model file {str(path)!r} holds a {meta.get('kind')!r} model, not a {kind!r} one; load it with "
            f"maml_strategy.learners.load_learner, which dispatches on the kind"
        )
    return meta, tensors


def split_scaler_state(scaler: Any | None) -> tuple[dict[str, Any] | None, dict[str, Tensor]]:
    """Split ``scaler.state_dict()`` into JSON-able values and tensors (prefixed ``scaler.``)."""
    if scaler is None:
        return None, {}
    if not hasattr(scaler, "state_dict"):
        raise ModelError(f"scaler of type {type(scaler).__name__} has no state_dict(); pass a FeatureScaler")
    plain: dict[str, Any] = {}
    tensors: dict[str, Tensor] = {}
    for key, value in scaler.state_dict().items():
        if isinstance(value, Tensor):
            tensors[f"scaler.{key}"] = value
        elif isinstance(value, np.ndarray):
            tensors[f"scaler.{key}"] = torch.from_numpy(np.ascontiguousarray(value))
            plain[f"__ndarray__{key}"] = True
        else:
            plain[key] = value
    plain["__class__"] = f"{type(scaler).__module__}.{type(scaler).__qualname__}"
    return plain, tensors


def scaler_from_state(plain: dict[str, Any] | None, tensors: dict[str, Tensor]) -> Any | None:
    """Rebuild a :class:`~maml_strategy.features.scaler.FeatureScaler` saved by :func:`split_scaler_state`."""
    if plain is None:
        return None
    try:
        from maml_strategy.features.scaler import FeatureScaler
    except ImportError as exc:  # pragma: no cover - the scaler module ships with the library
        raise ModelError(f"the model file holds a feature scaler but FeatureScaler cannot be imported ({exc})") from exc
    state: dict[str, Any] = {k: v for k, v in plain.items() if not k.startswith("__")}
    for name, t in tensors.items():
        if name.startswith("scaler."):
            key = name[len("scaler.") :]
            state[key] = t.numpy() if plain.get(f"__ndarray__{key}") else t
    try:
        return FeatureScaler.from_state_dict(state)
    except Exception as exc:
        raise ModelError(f"the model file's feature scaler cannot be restored ({exc}); retrain and save the model") from exc
