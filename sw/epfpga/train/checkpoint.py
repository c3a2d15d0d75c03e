"""Checkpoints: weights + engine state + config + progress in one ``.npz``, written atomically.

Arrays go in as arrays; everything else (config, digest, LFSR states, RNG state,
history) as one JSON string, so loading never unpickles anything.  A SHA-256 over every
array and the JSON (format 2) catches a damaged file; the previous checkpoint is kept
beside it (``checkpoint.prev.npz``) and ``load_checkpoint(..., fallback=True)`` takes it,
with a warning, when the newest one is damaged.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from epfpga.errors import EpfpgaError
from epfpga.model.config import EPConfig

FORMAT = 2  # 2: a SHA-256 over the arrays and the metadata; 1 (no digest) still loads


class CheckpointError(EpfpgaError):
    pass


@dataclass
class Checkpoint:
    cfg: EPConfig
    engine: str
    state: dict[str, Any]  # engine state_dict: "W", "b" lists of arrays, plus JSON-able extras
    epoch: int = 0  # epochs completed
    position: int = 0  # samples of the current epoch already trained
    history: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(path: str | Path, ck: Checkpoint) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    for i, w in enumerate(ck.state["W"]):
        arrays[f"W{i}"] = np.asarray(w)
    for i, v in enumerate(ck.state["b"]):
        arrays[f"b{i}"] = np.asarray(v)
    rest = {k: v for k, v in ck.state.items() if k not in ("W", "b")}
    meta = {
        "format": FORMAT, "config": ck.cfg.to_dict(), "digest": ck.cfg.digest,
        "engine": ck.engine, "epoch": ck.epoch, "position": ck.position,
        "history": ck.history, "state": rest, "extra": ck.extra,
        "n_layers": len(ck.state["W"]),
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta, default=_json_default).encode(), np.uint8)
    arrays["sha256"] = np.frombuffer(_digest(arrays).encode(), np.uint8)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    if path.exists():  # the last good one stays, for a resume when this one is damaged
        path.replace(previous(path))
    tmp.replace(path)


def previous(path: Path) -> Path:
    return path.with_name(path.stem + ".prev" + path.suffix)


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(k for k in arrays if k != "sha256"):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"cannot store {type(o).__name__} in a checkpoint")


def load_checkpoint(path: str | Path, fallback: bool = False) -> Checkpoint:
    """``fallback``: when the checkpoint is damaged, load the previous one instead (one
    warning line); the error names both files when neither loads."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.npz"
    try:
        return _load(path)
    except CheckpointError as e:
        prev = previous(path)
        if not fallback or not prev.exists():
            raise
        try:
            ck = _load(prev)
        except CheckpointError as e2:
            raise CheckpointError(f"{e}; the previous one is damaged too: {e2}") from None
        print(f"warning: {e}; resuming from the previous checkpoint {prev} (epoch "
              f"{ck.epoch + 1}, sample {ck.position})", file=sys.stderr)
        return ck


def _load(path: Path) -> Checkpoint:
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(bytes(arrays["meta"]).decode())
        fmt = meta.get("format")
        if fmt == FORMAT and bytes(arrays.get("sha256", b"")).decode() != _digest(arrays):
            raise CheckpointError(f"{path} is damaged: its contents do not match their "
                                  "SHA-256")
        if fmt not in (1, FORMAT):
            raise CheckpointError(f"{path}: checkpoint format {fmt} not supported")
        n = int(meta["n_layers"])
        W = [arrays[f"W{i}"] for i in range(n)]
        b = [arrays[f"b{i}"] for i in range(n)]
        if meta["config"].get("kind") == "conv":
            from epfpga.conv.config import ConvConfig

            cfg: Any = ConvConfig.from_dict(meta["config"])
        else:
            cfg = EPConfig.from_dict(meta["config"])
        state = dict(meta["state"])
        epoch, position = int(meta["epoch"]), int(meta["position"])
        engine, history = str(meta["engine"]), list(meta["history"])
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(f"{path} is not a readable epfpga checkpoint "
                              f"({type(e).__name__}: {e})") from None
    if cfg.digest != meta["digest"]:
        raise CheckpointError(
            f"{path}: config digest {meta['digest']} does not match its config ({cfg.digest}); "
            "the checkpoint was written by an incompatible epfpga version"
        )
    state["W"], state["b"] = W, b
    return Checkpoint(cfg, engine, state, epoch, position, history, meta.get("extra", {}))
