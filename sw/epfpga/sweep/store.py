"""The result store: one JSON line per finished job, keyed by the job's identity.

One writer (the process that runs the sweep) appends a line as each job finishes and
syncs it to disk, so a killed sweep keeps every result it had; a rerun reads the keys
and submits only the rest.  A line cut short by a crash is dropped on open (the job
reruns), and a key already stored is never written again.  Failures go to a separate
log so that they rerun next time.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class ResultStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.rows: dict[str, dict[str, Any]] = {}
        self.dropped = 0
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        data = self.path.read_bytes()
        good = 0  # bytes up to the last complete, readable line
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                self.dropped += 1
                break
            try:
                row = json.loads(line)
                key = row["key"]
            except (ValueError, KeyError, TypeError):
                self.dropped += 1
                break
            self.rows.setdefault(key, row)
            good += len(line)
        if good < len(data):  # a torn tail: cut it so the next append starts a line
            with self.path.open("r+b") as f:
                f.truncate(good)

    def __contains__(self, key: str) -> bool:
        return key in self.rows

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, row: dict[str, Any]) -> bool:
        """Appends ``row`` unless its key is stored; True when written."""
        if row["key"] in self.rows:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(row, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.rows[row["key"]] = row
        return True

    def log_failure(self, key: str, point: str, kind: str, error: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.with_name("failures.jsonl").open("a") as f:
            f.write(json.dumps({"key": key, "point": point, "kind": kind,
                                "error": error}) + "\n")
