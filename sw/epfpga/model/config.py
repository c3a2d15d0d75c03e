"""The one configuration object shared by gateware, golden model, float reference and driver.

Every layer size, bit width, step count and rate lives here once; everything else
(integer beta, update multipliers, shift amounts, accumulator need, digest) is derived
by properties so it can never drift from the source.  See ``docs/numerics.md`` for how
the integer fields are used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from epfpga.errors import EpfpgaError

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


class ConfigError(EpfpgaError, ValueError):
    """A configuration that cannot be built or trained; the message says what to change."""


#: Multiplier widths of the parts we target: a weight or state wider than this would
#: need two DSP slices per MAC, which the datapath does not do.
PART_DSP_WIDTH = {"up5k": 16, "ecp5": 18, "none": 64}

NUDGE_MODES = ("positive", "random_sign", "symmetric")
ROUNDING_MODES = ("nearest", "stochastic")
ALGORITHMS = ("ep", "cep")  # cep: continual EP, weights updated at every nudged step
FEEDBACK_MODES = ("tied", "separate")
# Frozen layout version of the numerics; bump when the integer contract changes.
NUMERICS_VERSION = 1


def _is_int(v: object) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


#: each field's kind, for the type check of a loaded config
_KINDS = {
    **dict.fromkeys(("act_frac", "weight_bits", "weight_frac", "acc_bits", "T1", "T2",
                     "beta_frac", "lr_frac", "sr_bits", "sample_steps", "batch_size",
                     "seed", "lanes"), "int"),
    **dict.fromkeys(("beta", "lr_decay", "noise", "init_gain"), "float"),
    **dict.fromkeys(("rounding", "nudge", "algorithm", "feedback", "part", "name"), "str"),
    "correction": "bool", "layers": "ints", "lrs": "floats",
}
#: relaxation steps beyond this are a typo, not an experiment (each is a full pass)
MAX_STEPS = 100_000


class SharedConfig:
    """What ``EPConfig`` and the conv ``ConvConfig`` share: saving and replacing, and the
    integers a fixed-point model derives from the number formats (docs/numerics.md)."""

    act_frac: int
    weight_bits: int
    weight_frac: int
    beta: float
    beta_frac: int
    lr_frac: int

    T1: int
    T2: int
    rounding: str
    nudge: str
    sr_bits: int
    batch_size: int
    part: str
    lr_decay: float
    #: the largest lr_frac the model's integer arithmetic allows
    LR_FRAC_MAX = 24

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def _shared_errors(self) -> list[str]:
        """What is wrong with the fields both kinds of network have (one message each)."""
        err = []
        if not 1 <= self.act_frac <= 15:
            err.append(f"act_frac must be in 1..15, got {self.act_frac}")
        if not 2 <= self.weight_bits <= 32:
            err.append(f"weight_bits must be in 2..32, got {self.weight_bits}")
        if not 0 < self.weight_frac < self.weight_bits:
            err.append(
                f"weight_frac must be in 1..weight_bits-1 ({self.weight_bits - 1}), "
                f"got {self.weight_frac}"
            )
        if self.T1 < 1 or self.T2 < 0 or max(self.T1, self.T2) > MAX_STEPS:
            err.append(f"T1 must be in 1..{MAX_STEPS} and T2 in 0..{MAX_STEPS}, got "
                       f"T1={self.T1}, T2={self.T2}")
        if not 0 < self.beta <= 1:
            err.append(f"beta must be in (0, 1], got {self.beta}")
        if not 0 <= self.beta_frac <= self.weight_frac:
            err.append(
                f"beta_frac must be in 0..weight_frac ({self.weight_frac}) so the nudge "
                f"is an exact shift, got {self.beta_frac}"
            )
        if self.rounding not in ROUNDING_MODES:
            err.append(f"rounding must be one of {ROUNDING_MODES}, got {self.rounding!r}")
        if self.nudge not in NUDGE_MODES:
            err.append(f"nudge must be one of {NUDGE_MODES}, got {self.nudge!r}")
        if not 1 <= self.sr_bits <= 16:
            err.append(f"sr_bits must be in 1..16, got {self.sr_bits}")
        if self.batch_size < 1:
            err.append(f"batch_size must be >= 1, got {self.batch_size}")
        if self.part not in PART_DSP_WIDTH:
            err.append(f"part must be one of {sorted(PART_DSP_WIDTH)}, got {self.part!r}")
        if not 0 < self.lr_decay <= 1:
            err.append(f"lr_decay (per-epoch rate multiplier) must be in (0, 1], got "
                       f"{self.lr_decay}")
        if not 4 <= self.lr_frac <= self.LR_FRAC_MAX:
            err.append(f"lr_frac must be in 4..{self.LR_FRAC_MAX}, got {self.lr_frac}")
        return err

    def replace(self, **changes: Any) -> Any:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def save(self, path: str | Path) -> None:
        path = Path(path)
        if path.suffix == ".toml":
            import tomli_w

            path.write_text(tomli_w.dumps(self.to_dict()))
        else:
            path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    #: what a config file of this kind is called in messages, and the numerics version
    #: its digest carries (a new version: every digest and every cached build changes)
    KIND = "config"
    VERSION_KEY = ("numerics_version", NUMERICS_VERSION)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown {cls.KIND} keys {unknown}; known keys: "
                              f"{sorted(known)}")
        try:
            return cls(**d)
        except TypeError as e:
            raise ConfigError(f"bad {cls.KIND} value: {e}") from None

    @property
    def digest(self) -> str:
        """Stable 64-bit hex digest of everything that affects numerics or gateware."""
        d = self.to_dict()
        d.pop("name")
        key, version = self.VERSION_KEY
        d[key] = version
        blob = json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    @property
    def act_bits(self) -> int:
        """Unsigned state width: [0, 1] inclusive needs one integer bit."""
        return self.act_frac + 1

    @property
    def act_one(self) -> int:
        return 1 << self.act_frac

    @property
    def weight_max(self) -> int:
        return (1 << (self.weight_bits - 1)) - 1

    @property
    def weight_min(self) -> int:
        return -(1 << (self.weight_bits - 1))

    @property
    def beta_q(self) -> int:
        """beta as an integer multiple of 2**-beta_frac (nearest, at least the sign kept)."""
        return int(round(self.beta * (1 << self.beta_frac)))

    @property
    def beta_effective(self) -> float:
        """The beta the fixed-point model really uses."""
        return self.beta_q / (1 << self.beta_frac)

    @property
    def nudge_shift(self) -> int:
        """Left shift taking (y - s) * beta_q into accumulator units."""
        return self.weight_frac - self.beta_frac

    @property
    def update_shift(self) -> int:
        """Right shift (with rounding) from the update product to weight LSBs."""
        return 2 * self.act_frac + self.lr_frac - self.weight_frac


@dataclass(frozen=True)
class EPConfig(SharedConfig):
    """Network, numerics and training hyper-parameters of one EP system.

    ``layers`` is (input, hidden..., output).  States and inputs are unsigned fixed
    point in [0, 1] with ``act_frac`` fraction bits; weights and biases are signed
    ``weight_bits`` wide with ``weight_frac`` fraction bits.

    Seed variants: ``algorithm="cep"`` updates the weights at every nudged step (C-EP,
    seed 003); ``feedback="separate"`` gives each layer its own top-down weights, a
    non-conservative system (VF), and ``correction`` adds the term of seed 000 that
    makes the nudged phase respond like the transposed system, restoring the exact
    gradient; ``noise`` > 0 makes relaxation Langevin-like (uniform noise of that
    amplitude, in state units, on every pre-activation) and ``sample_steps`` averages
    each phase's statistics over its last steps (seed 002).
    """

    layers: tuple[int, ...] = (784, 64, 10)
    act_frac: int = 8
    weight_bits: int = 16
    weight_frac: int = 13
    acc_bits: int = 40
    T1: int = 30
    T2: int = 10
    beta: float = 0.25
    beta_frac: int = 8
    lrs: tuple[float, ...] = (0.01, 0.005)
    lr_frac: int = 16
    lr_decay: float = 1.0
    rounding: str = "stochastic"
    sr_bits: int = 16
    nudge: str = "positive"
    algorithm: str = "ep"
    feedback: str = "tied"
    correction: bool = False
    noise: float = 0.0
    sample_steps: int = 0
    batch_size: int = 1
    init_gain: float = 1.0
    seed: int = 0
    lanes: int = 1
    part: str = "up5k"
    name: str = field(default="custom", compare=False)

    def __post_init__(self) -> None:
        self._check_types()
        object.__setattr__(self, "layers", tuple(int(n) for n in self.layers))
        object.__setattr__(self, "lrs", tuple(float(r) for r in self.lrs))
        self._validate()

    def _check_types(self) -> None:
        """Integers where integers, numbers where numbers: a config file's ``T1 = 5.5``
        or ``layers = "abc"`` is one clear error, not a traceback or a silent cast."""
        err = []
        for f in dataclasses.fields(self):
            v, kind = getattr(self, f.name), _KINDS.get(f.name, "")
            if kind == "int" and not _is_int(v):
                err.append(f"{f.name} must be an integer, got {v!r}")
            elif kind == "float" and not (_is_int(v) or isinstance(v, numbers.Real)
                                          and not isinstance(v, bool)):
                err.append(f"{f.name} must be a number, got {v!r}")
            elif kind == "str" and not isinstance(v, str):
                err.append(f"{f.name} must be a string, got {v!r}")
            elif kind == "bool" and not isinstance(v, bool):
                err.append(f"{f.name} must be true or false, got {v!r}")
            elif kind in ("ints", "floats") and (
                    isinstance(v, str | bytes) or not isinstance(v, list | tuple) or not all(
                        _is_int(x) if kind == "ints" else
                        isinstance(x, numbers.Real) and not isinstance(x, bool) for x in v)):
                what = "integers" if kind == "ints" else "numbers"
                err.append(f"{f.name} must be a list of {what}, got {v!r}")
        if err:
            raise ConfigError("invalid config: " + "; ".join(err))

    # ---------------------------------------------------------------- validation
    def _validate(self) -> None:
        err = self._shared_errors()
        if len(self.layers) < 2:
            err.append(f"layers needs at least an input and an output size, got {self.layers}")
        if any(n < 1 for n in self.layers):
            err.append(f"every layer size must be >= 1, got {self.layers}")
        if len(self.lrs) != max(len(self.layers) - 1, 0):
            err.append(
                f"lrs has {len(self.lrs)} entries but the network has "
                f"{len(self.layers) - 1} weight layers (one learning rate per layer)"
            )
        if any(r < 0 for r in self.lrs):
            err.append(f"learning rates must be >= 0, got {self.lrs}")
        if self.part != "none":  # the board's wire format (docs/protocol.md)
            from epfpga.host.protocol import MAX_PAYLOAD, max_sample_bytes

            if self.layers[-1] > 256:
                err.append(f"{self.layers[-1]} outputs: a board takes labels as one byte "
                           "(at most 256 classes); use part = \"none\" for a model that "
                           "never goes to a board")
            if len(self.layers) >= 2 and max_sample_bytes(self.layers[0],
                                                          self.act_one) + 2 > MAX_PAYLOAD:
                err.append(f"{self.layers[0]} inputs: a sample can take up to "
                           f"{max_sample_bytes(self.layers[0], self.act_one)} bytes, more "
                           f"than a frame carries ({MAX_PAYLOAD - 2}); use part = "
                           "\"none\" for a model that never goes to a board")
        if self.algorithm not in ALGORITHMS:
            err.append(f"algorithm must be one of {ALGORITHMS}, got {self.algorithm!r}")
        if self.feedback not in FEEDBACK_MODES:
            err.append(f"feedback must be one of {FEEDBACK_MODES}, got {self.feedback!r}")
        if self.correction and self.feedback != "separate":
            err.append("correction needs feedback='separate' (tied weights are already "
                       "conservative: nothing to correct)")
        if self.algorithm == "cep" and self.nudge == "symmetric":
            err.append("algorithm='cep' updates during one nudged phase; use nudge "
                       "'positive' or 'random_sign'")
        if not 0 <= self.noise <= 1:
            err.append(f"noise must be in [0, 1] (state units), got {self.noise}")
        if not 0 <= self.sample_steps <= min(self.T1, max(self.T2, 1)) or (
                self.sample_steps & (self.sample_steps - 1)):
            err.append(f"sample_steps must be 0 or a power of two (the fixed-point "
                       f"average is a shift) up to min(T1, T2), got {self.sample_steps}")
        if not 1 <= self.lanes <= 64 or self.lanes & (self.lanes - 1):
            err.append(f"lanes (parallel MAC lanes) must be a power of two in 1..64, "
                       f"got {self.lanes}")
        if err:
            raise ConfigError("invalid config: " + "; ".join(err))

        dsp = PART_DSP_WIDTH[self.part]
        if self.weight_bits > dsp:
            raise ConfigError(
                f"weight_bits={self.weight_bits} is wider than the {self.part} multiplier "
                f"({dsp} bit); use weight_bits <= {dsp} or part='none'"
            )
        if self.act_bits > dsp:
            raise ConfigError(
                f"act_frac={self.act_frac} gives {self.act_bits}-bit states, wider than the "
                f"{self.part} multiplier ({dsp} bit)"
            )
        if self.beta_q == 0:
            raise ConfigError(
                f"beta={self.beta} rounds to 0 with beta_frac={self.beta_frac}; "
                f"raise beta_frac or beta"
            )
        if self.update_shift < 1:
            raise ConfigError(
                "2*act_frac + lr_frac - weight_frac must be >= 1 so every update is rounded "
                f"once; got {self.update_shift}"
            )
        for i, n_bits in enumerate(self.acc_bits_needed):
            if n_bits > self.acc_bits:
                raise ConfigError(
                    f"acc_bits={self.acc_bits} is too narrow for layer {i + 1} "
                    f"(fan-in {self.fan_in(i + 1)}): the worst-case pre-activation needs "
                    f"{n_bits} bits; set acc_bits >= {n_bits}"
                )
        if self.acc_bits > 62:
            raise ConfigError(f"acc_bits={self.acc_bits} exceeds 62 (golden model uses int64)")

    # ---------------------------------------------------------------- derived values
    @property
    def n_layers(self) -> int:
        """Number of weight layers (W_0 .. W_{L-1})."""
        return len(self.layers) - 1

    @property
    def update_q(self) -> tuple[int, ...]:
        """Per-layer eta/beta (eta/2beta for symmetric nudge) in units of 2**-lr_frac."""
        return self.update_q_at(0)

    def update_q_at(self, epoch: int) -> tuple[int, ...]:
        """update_q in a given epoch: the host lowers the rates by lr_decay per epoch
        (SET_PARAMS on a board), so golden and gateware use the same integers."""
        denom = self.beta_effective * (2 if self.nudge == "symmetric" else 1)
        scale = self.lr_decay ** epoch
        return tuple(int(round(lr * scale / denom * (1 << self.lr_frac))) for lr in self.lrs)

    @property
    def update_q_bits(self) -> int:
        """Width of the board's eta/beta registers: this config's rates with room to
        double them at run time (SET_PARAMS refuses more; lr_decay only lowers them)."""
        return max(max(self.update_q, default=0).bit_length() + 1, 2)

    def fan_in(self, layer: int) -> int:
        """Synapses into state layer ``layer`` (1..L): from below and, if any, from above
        and, with the non-conservative correction, (B - W)(s - s*) counted as two
        synapses per pair (|B - W| can reach twice the weight range)."""
        n = self.layers[layer - 1]
        if layer < len(self.layers) - 1:
            n += self.layers[layer + 1]
        if self.correction:
            n += 2 * ((self.layers[layer - 1] if layer > 1 else 0) + (
                self.layers[layer + 1] if layer < len(self.layers) - 1 else 0))
        return n

    @property
    def noise_q(self) -> int:
        """Noise amplitude in accumulator units (2**-(act_frac + weight_frac))."""
        return int(round(self.noise * (1 << (self.act_frac + self.weight_frac))))

    @property
    def acc_bits_needed(self) -> list[int]:
        """Signed width of the worst-case pre-activation of each state layer."""
        need = []
        wmax = 1 << (self.weight_bits - 1)  # |weight| <= 2**(weight_bits-1)
        for layer in range(1, len(self.layers)):
            worst = (self.fan_in(layer) + 1) * wmax * self.act_one  # synapses + bias
            if layer == len(self.layers) - 1:
                worst += self.act_one * abs(self.beta_q) << self.nudge_shift
            worst += self.noise_q
            need.append(worst.bit_length() + 1)
        return need

    @property
    def n_weights(self) -> int:
        return sum(a * b for a, b in zip(self.layers[:-1], self.layers[1:], strict=True))

    # ---------------------------------------------------------------- serialization
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["layers"] = list(self.layers)
        d["lrs"] = list(self.lrs)
        return d

    @classmethod
    def load(cls, path: str | Path) -> EPConfig:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"config file {path} does not exist")
        text = path.read_text()
        try:
            d = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except (ValueError, tomllib.TOMLDecodeError) as e:
            raise ConfigError(f"cannot parse {path}: {e}") from None
        d.setdefault("name", path.stem)
        if d.get("kind") == "conv":  # a ConvConfig's file (its to_dict tags it)
            from epfpga.conv.config import ConvConfig

            return ConvConfig.from_dict(d)  # type: ignore[return-value]
        return cls.from_dict(d)



PRESETS: dict[str, EPConfig] = {
    # Small enough for exhaustive per-neuron checks and fast Verilator builds.
    "tiny": EPConfig(
        layers=(16, 8, 4), T1=8, T2=4, beta=0.5, lrs=(0.05, 0.025), lanes=2, name="tiny"
    ),
    # 784*64 16-bit weights = 50176 words: fits the UP5K's 4 SPRAM banks (65536 words).
    # Tuned on MNIST (docs/results.md): 96.8% after 8 epochs in the golden model.
    "up5k": EPConfig(layers=(784, 64, 10), T1=20, T2=8, beta=0.5, lrs=(0.01, 0.005),
                     lr_decay=0.7, lanes=1, name="up5k"),  # 8 DSPs: one lane
    # The ECP5-85F: twice the hidden layer, 4 lanes on the fast multiplier plan
    # (hw/core.py), which routes at 40 MHz; nextpnr has not routed 8 in a session
    # (docs/results.md).  Lanes never change a bit of the result, so it trains exactly
    # as with one lane.  Its rates: twice up5k's, halved every epoch, which reaches 97 %
    # in two or three epochs (up5k's schedule needs four; docs/results.md).
    "ecp5": EPConfig(
        layers=(784, 128, 10), T1=20, T2=8, beta=0.5, lrs=(0.02, 0.01), lr_decay=0.5,
        lanes=4, part="ecp5", name="ecp5",
    ),
    # Laborieux et al. prototypical EP: float reference yardstick.
    "laborieux": EPConfig(
        layers=(784, 512, 10), T1=30, T2=10, beta=0.1, beta_frac=10, nudge="random_sign",
        lrs=(0.08, 0.04), batch_size=50, part="none", lanes=16, name="laborieux",
    ),
}


def preset_names() -> list[str]:
    """Every preset, layered then conv (for help texts and error messages)."""
    from epfpga.conv.config import CONV_PRESETS  # conv imports this module: import late

    return [*PRESETS, *CONV_PRESETS]


def get_config(spec: str | EPConfig) -> EPConfig:
    """A preset name or a path to a .toml/.json file."""
    if isinstance(spec, EPConfig):
        return spec
    if spec in PRESETS:
        return PRESETS[spec]
    from epfpga.conv.config import CONV_PRESETS  # conv imports this module: import late

    if spec in CONV_PRESETS:
        return CONV_PRESETS[spec]  # type: ignore[return-value]
    p = Path(spec)
    if p.suffix in (".toml", ".json") or p.exists():
        return EPConfig.load(p)
    raise ConfigError(
        f"unknown config {spec!r}: use a preset ({', '.join(preset_names())}) "
        "or a .toml/.json file"
    )
