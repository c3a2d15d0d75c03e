"""A sweep spec (TOML) and its expansion into jobs.

A point is a set of overrides: config fields (``weight_bits``, ``T1``, ``layers``...),
two shorthands (``hidden``: one hidden layer of that size; ``board``: the board, whose part
the config takes) and any option of a job kind (``epochs``, ``engine``, ``clock``...).
Points come from ``[[points]]`` (explicit, each with an optional ``label``) crossed with
``[grid]`` (every combination), or are drawn from ``[space]`` (``search = "random"`` or
``"optuna"``).  Each point runs once per seed of each kind in ``kinds``.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from epfpga.errors import EpfpgaError
from epfpga.model.config import ConfigError, EPConfig, get_config

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

SPECS_DIR = Path(__file__).parent / "specs"
SEARCHES = ("grid", "random", "optuna")
BOARD_PART = {"icebreaker": "up5k", "ulx3s": "ecp5"}

#: each job kind's options and their defaults; a point may override any of them
KIND_OPTIONS: dict[str, dict[str, Any]] = {
    "train": {"engine": "golden", "epochs": 1, "train_samples": None, "test_samples": None,
              "dataset": "mnist"},
    "cycles": {"samples": 4},
    "fit": {"board": "icebreaker"},
    "build": {"board": "icebreaker", "clock": None, "simulate": False, "builds": None},
}
#: what a kind's seed means: the config's seed (weights and sample order), a placement
#: seed, or nothing (the job is deterministic and runs once)
SEEDED = {"train": "config", "build": "placement", "cycles": None, "fit": None}
CONFIG_FIELDS = {f.name for f in dataclasses.fields(EPConfig)} - {"name"}
SHORTHANDS = {"hidden", "board", "lr_scale"}


class SpecError(EpfpgaError):
    """A spec that cannot run; the message names the file and the field."""


@dataclass(frozen=True)
class Job:
    kind: str
    point: str  # the point's label, shared by its seeds and kinds
    params: dict[str, Any]  # the point's overrides, as written
    cfg: EPConfig
    options: dict[str, Any]
    seed: int | None

    @property
    def key(self) -> str:
        """Identity in the result store: the kind, every number the job depends on (the
        config digest covers the config, its seed included) and the options."""
        blob = json.dumps({"kind": self.kind, "digest": self.cfg.digest,
                           "options": self.options, "seed": self.seed}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class Dimension:
    """One axis of a random or Optuna search: a list of choices or a numeric range."""

    name: str
    choices: list[Any] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False

    def sample(self, rng: np.random.Generator) -> Any:
        if self.choices is not None:
            return self.choices[int(rng.integers(len(self.choices)))]
        lo, hi = (math.log(self.low), math.log(self.high)) if self.log else (self.low, self.high)
        v = float(rng.uniform(lo, hi))
        v = math.exp(v) if self.log else v
        return int(round(v)) if self.integer else v

    def distribution(self) -> Any:
        import optuna

        d = optuna.distributions
        if self.choices is not None:
            return d.CategoricalDistribution(self.choices)
        if self.integer:
            return d.IntDistribution(int(self.low), int(self.high), log=self.log)
        return d.FloatDistribution(self.low, self.high, log=self.log)


@dataclass
class SweepSpec:
    name: str
    base: EPConfig
    kinds: tuple[str, ...]
    search: str = "grid"
    trials: int = 0
    sampler_seed: int = 0
    objective: str = "test_acc"
    direction: str = "maximize"
    seeds: dict[str, list[int]] = field(default_factory=dict)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    points: list[dict[str, Any]] = field(default_factory=lambda: [{}])
    grid: dict[str, list[Any]] = field(default_factory=dict)
    space: list[Dimension] = field(default_factory=list)
    source: str = "<spec>"

    # ------------------------------------------------------------ expansion
    def grid_points(self) -> list[dict[str, Any]]:
        """``[[points]]`` x ``[grid]`` for a grid search; the random search's draws (a pure
        function of ``sampler_seed``, so a rerun draws the same points)."""
        if self.search == "random":
            rng = np.random.default_rng(self.sampler_seed)
            out = []
            for _ in range(self.trials):
                out.append({d.name: d.sample(rng) for d in self.space})
            return [{**p, **q} for p in self.points for q in out]
        names = list(self.grid)
        combos = list(itertools.product(*(self.grid[n] for n in names)))
        out = []
        for p in self.points:
            for c in combos:
                q = {**p, **dict(zip(names, c, strict=True))}
                if "label" in p and names:  # a labelled point's grid values join its label
                    q["label"] = f"{p['label']} {_label(dict(zip(names, c, strict=True)))}"
                out.append(q)
        return out

    def jobs_for(self, point: dict[str, Any]) -> list[Job]:
        """Every job of one point: each kind, each of its seeds.  Raises ConfigError when
        the point makes an invalid config."""
        params = {k: v for k, v in point.items() if k != "label"}
        label = str(point.get("label") or _label(params))
        cfg = apply_overrides(self.base, params, label)
        jobs = []
        for kind in self.kinds:
            opts = {**KIND_OPTIONS[kind], **self.options.get(kind, {}),
                    **{k: v for k, v in params.items() if k in KIND_OPTIONS[kind]}}
            kcfg = cfg
            if "board" in opts and "board" not in params and "part" not in params:
                kcfg = cfg.replace(part=BOARD_PART[opts["board"]])
            seeds = self.seeds.get(kind) or [None]
            for s in seeds if SEEDED[kind] else [None]:
                jcfg = kcfg.replace(seed=s) if SEEDED[kind] == "config" and s is not None \
                    else kcfg
                jobs.append(Job(kind, label, params, jcfg, opts,
                                s if SEEDED[kind] else None))
        return jobs

    def label_of(self, point: dict[str, Any]) -> str:
        """The label the jobs of ``point`` carry."""
        return str(point.get("label") or _label(point))

    def expand(self) -> tuple[list[Job], list[tuple[str, str]]]:
        """(jobs, invalid points with the reason) of a grid or random search."""
        jobs, invalid = [], []
        for p in self.grid_points():
            try:
                jobs.extend(self.jobs_for(p))
            except ConfigError as e:
                invalid.append((str(p.get("label") or _label(p)), str(e)))
        return jobs, invalid


def apply_overrides(base: EPConfig, params: dict[str, Any], label: str = "") -> EPConfig:
    """The base config with a point's overrides.  ``weight_bits`` alone keeps the base's
    integer bits (``weight_frac`` follows) and ``beta_frac`` at most ``weight_frac``, as a
    width change means; ``hidden`` replaces the hidden layers by one of that size;
    ``board`` sets the part that board's build uses; ``lr_scale`` multiplies every
    learning rate."""
    ch = {k: v for k, v in params.items() if k in CONFIG_FIELDS}
    if "hidden" in params:
        ch["layers"] = (base.layers[0], int(params["hidden"]), base.layers[-1])
        if len(base.layers) != 3 and "lrs" not in ch:
            ch["lrs"] = base.lrs[:1] + base.lrs[-1:]
    if "lr_scale" in params:
        ch["lrs"] = tuple(r * float(params["lr_scale"]) for r in ch.get("lrs", base.lrs))
    if "board" in params and "part" not in ch:
        ch["part"] = BOARD_PART[params["board"]]
    if "weight_bits" in ch and "weight_frac" not in ch:
        ch["weight_frac"] = max(1, ch["weight_bits"] - (base.weight_bits - base.weight_frac))
    if "weight_frac" in ch and "beta_frac" not in ch:
        ch["beta_frac"] = min(base.beta_frac, ch["weight_frac"])
    if "layers" in ch:
        ch["layers"] = tuple(ch["layers"])
    return base.replace(**ch, name=label if params and label else base.name)


def _label(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={_short(v)}" for k, v in params.items() if k != "label") or "base"


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list | tuple):
        return "-".join(str(x) for x in v)
    return str(v)


# ------------------------------------------------------------------ loading
def find_spec(name: str) -> Path:
    """A spec file path, or a bundled spec's name (``epfpga sweep --list`` shows them)."""
    p = Path(name)
    if p.exists():
        return p
    bundled = SPECS_DIR / f"{name}.toml"
    if bundled.exists():
        return bundled
    names = ", ".join(bundled_specs())
    raise SpecError(f"no spec file {name!r} and no bundled spec of that name (bundled: "
                    f"{names})")


def bundled_specs() -> list[str]:
    return sorted(p.stem for p in SPECS_DIR.glob("*.toml"))


def load_spec(name: str | Path) -> SweepSpec:
    path = find_spec(str(name))
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"{path}: cannot read: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: not valid TOML: {e}") from None
    return parse_spec(raw, str(path), path.parent)


def parse_spec(raw: dict[str, Any], source: str = "<spec>", root: Path | None = None
               ) -> SweepSpec:
    """Checks every table and field, naming the first wrong one with what it takes."""
    def fail(where: str, msg: str) -> SpecError:
        return SpecError(f"{source}: {where}: {msg}")

    known = {"sweep", "grid", "points", "space", *KIND_OPTIONS}
    for k in raw:
        if k not in known:
            raise fail(f"[{k}]", f"unknown table{_hint(k, known)}; tables: "
                       f"{', '.join(sorted(known))}")
    sw = _table(raw, "sweep", fail)
    allowed = {"name", "base", "kinds", "search", "trials", "sampler_seed", "objective",
               "direction", "seeds"}
    for k in sw:
        if k not in allowed:
            raise fail(f"[sweep] {k}", f"unknown field{_hint(k, allowed)}")
    kinds = sw.get("kinds", ["train"])
    if isinstance(kinds, str):
        kinds = [kinds]
    if not isinstance(kinds, list) or not kinds or any(k not in KIND_OPTIONS for k in kinds):
        raise fail("[sweep] kinds", f"a list of {', '.join(KIND_OPTIONS)}, got {kinds!r}")
    search = sw.get("search", "grid")
    if search not in SEARCHES:
        raise fail("[sweep] search", f"one of {', '.join(SEARCHES)}, got {search!r}")
    base_name = sw.get("base", "up5k")
    if not isinstance(base_name, str):
        raise fail("[sweep] base", f"a preset name or a config file, got {base_name!r}")
    if root is not None and (root / base_name).exists():
        base_name = str(root / base_name)
    try:
        base = get_config(base_name)
    except EpfpgaError as e:
        raise fail("[sweep] base", str(e)) from None
    trials = sw.get("trials", 0)
    if not _is_int(trials) or trials < 0 or (search != "grid" and trials < 1):
        raise fail("[sweep] trials", f"a positive integer for a {search} search, got "
                   f"{trials!r}")
    direction = sw.get("direction", "maximize")
    if direction not in ("maximize", "minimize"):
        raise fail("[sweep] direction", f"maximize or minimize, got {direction!r}")
    seeds = {k: _seeds(sw.get("seeds", [0]), fail, "[sweep] seeds") for k in kinds}
    options: dict[str, dict[str, Any]] = {}
    for kind in KIND_OPTIONS:
        t = dict(_table(raw, kind, fail))
        if "seeds" in t:
            seeds[kind] = _seeds(t.pop("seeds"), fail, f"[{kind}] seeds")
        for k in t:
            if k not in KIND_OPTIONS[kind]:
                raise fail(f"[{kind}] {k}", f"unknown option{_hint(k, KIND_OPTIONS[kind])}; "
                           f"options: {', '.join(KIND_OPTIONS[kind])}")
        options[kind] = t
    fields_ok = CONFIG_FIELDS | SHORTHANDS | {o for k in kinds for o in KIND_OPTIONS[k]}
    points = raw.get("points", [{}])
    if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
        raise fail("[[points]]", "an array of tables")
    for i, p in enumerate(points):
        for k, v in p.items():
            if k != "label":
                _check_field(k, fields_ok, fail, f"[[points]] #{i + 1} {k}")
                _check_value(k, v, fail, f"[[points]] #{i + 1} {k}")
    grid = _table(raw, "grid", fail)
    for k, v in grid.items():
        _check_field(k, fields_ok, fail, f"[grid] {k}")
        if not isinstance(v, list) or not v:
            raise fail(f"[grid] {k}", f"a non-empty list of values, got {v!r}")
        for x in v:
            _check_value(k, x, fail, f"[grid] {k}")
    space = []
    for k, v in _table(raw, "space", fail).items():
        _check_field(k, fields_ok, fail, f"[space] {k}")
        space.append(_dimension(k, v, fail))
    if search != "grid" and not space:
        raise fail("[space]", f"a {search} search needs at least one dimension, e.g. "
                   "lr_scale = { low = 0.3, high = 3, log = true }")
    if search == "grid" and space:
        raise fail("[space]", "only a random or optuna search draws from [space]; a grid "
                   "search takes [grid]")
    if search != "grid" and grid:
        raise fail("[grid]", f"a {search} search draws from [space], not [grid]")
    spec = SweepSpec(
        name=str(sw.get("name", Path(source).stem)), base=base, kinds=tuple(kinds),
        search=search, trials=int(trials), sampler_seed=int(sw.get("sampler_seed", 0)),
        objective=str(sw.get("objective", "test_acc")), direction=direction, seeds=seeds,
        options=options, points=points, grid=grid, space=space, source=source)
    if search == "optuna":
        from epfpga.sweep.summary import METRICS

        ok = {m for k in kinds for m in METRICS[k]}
        if spec.objective not in ok:
            raise fail("[sweep] objective", f"one of {', '.join(sorted(ok))} (the metrics of "
                       f"{', '.join(kinds)}), got {spec.objective!r}")
    if search != "optuna":
        spec.expand()  # a sweep of only invalid points is still a valid spec
    return spec


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _table(raw: dict[str, Any], name: str, fail: Any) -> dict[str, Any]:
    t = raw.get(name, {})
    if not isinstance(t, dict):
        raise fail(f"[{name}]", "must be a table")
    return t


def _seeds(v: Any, fail: Any, where: str) -> list[int]:
    if _is_int(v):
        v = list(range(v))
    if not isinstance(v, list) or not v or not all(_is_int(s) and s >= 0 for s in v):
        raise fail(where, f"a list of non-negative integers or a count, got {v!r}")
    if len(set(v)) != len(v):
        raise fail(where, f"repeats a seed: {v!r}")
    return list(v)


def _hint(name: str, options: Any) -> str:
    close = difflib.get_close_matches(name, list(options), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _check_field(name: str, ok: set[str], fail: Any, where: str) -> None:
    if name not in ok:
        raise fail(where, "not a config field, a shorthand (hidden, board, lr_scale) or an "
                   "option of "
                   f"this sweep's kinds{_hint(name, ok)}")


def _check_value(name: str, v: Any, fail: Any, where: str) -> None:
    if name == "board" and v not in BOARD_PART:
        raise fail(where, f"a board: {', '.join(BOARD_PART)}, got {v!r}")
    if name == "lr_scale" and not (isinstance(v, int | float) and v > 0):
        raise fail(where, f"a positive factor, got {v!r}")
    if name == "hidden" and not (_is_int(v) and v >= 1):
        raise fail(where, f"a positive layer size, got {v!r}")


def _dimension(name: str, v: Any, fail: Any) -> Dimension:
    where = f"[space] {name}"
    if isinstance(v, list):
        if not v:
            raise fail(where, "an empty list of choices")
        for x in v:
            _check_value(name, x, fail, where)
        return Dimension(name, choices=v)
    if not isinstance(v, dict) or "low" not in v or "high" not in v:
        raise fail(where, "a list of choices or a range { low = ..., high = ..., "
                   f"log = false }}, got {v!r}")
    extra = set(v) - {"low", "high", "log"}
    if extra:
        raise fail(where, f"unknown keys {sorted(extra)}: a range takes low, high, log")
    lo, hi = v["low"], v["high"]
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in (lo, hi)) \
            or not lo < hi:
        raise fail(where, f"low < high, both numbers, got low={lo!r}, high={hi!r}")
    log = bool(v.get("log", False))
    if log and lo <= 0:
        raise fail(where, f"a log range needs low > 0, got {lo!r}")
    return Dimension(name, low=lo, high=hi, log=log, integer=_is_int(lo) and _is_int(hi))
