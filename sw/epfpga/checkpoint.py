"""Checkpoints: weights + engine state + config + progress in one ``.npz``, written atomically.

Arrays go in as arrays; everything else (config, digest, LFSR states, RNG state,
history) as one JSON string, so loading never unpickles anything.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import EPConfig
from .errors import EpfpgaError

FORMAT = 1


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
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"cannot store {type(o).__name__} in a checkpoint")


def load_checkpoint(path: str | Path) -> Checkpoint:
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.npz"
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            n = int(meta["n_layers"])
            W = [z[f"W{i}"] for i in range(n)]
            b = [z[f"b{i}"] for i in range(n)]
    except (OSError, ValueError, KeyError) as e:
        raise CheckpointError(f"{path} is not a readable epfpga checkpoint ({e})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {meta.get('format')} not supported")
    cfg = EPConfig.from_dict(meta["config"])
    if cfg.digest != meta["digest"]:
        raise CheckpointError(
            f"{path}: config digest {meta['digest']} does not match its config ({cfg.digest}); "
            "the checkpoint was written by an incompatible epfpga version"
        )
    state = dict(meta["state"])
    state["W"], state["b"] = W, b
    return Checkpoint(cfg, meta["engine"], state, meta["epoch"], meta["position"],
                      meta["history"], meta.get("extra", {}))
