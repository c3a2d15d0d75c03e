"""``epfpga config``: show presets, check a config file, save one to edit."""

from __future__ import annotations

import argparse
import json

from epfpga.model.config import PRESETS, get_config, preset_names


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", default=None,
                   help=f"preset ({', '.join(preset_names())}) or .toml/.json file; "
                        "omit to list presets")
    p.add_argument("--save", metavar="FILE", help="write the config to FILE (.toml or .json)")


def run(args: argparse.Namespace) -> int:
    if args.config is None:
        for name, cfg in PRESETS.items():
            print(f"{name:10s} layers={'-'.join(map(str, cfg.layers)):12s} part={cfg.part:5s} "
                  f"lanes={cfg.lanes:<3d} digest={cfg.digest}")
        from epfpga.conv.config import CONV_PRESETS

        for name, c in CONV_PRESETS.items():
            print(f"{name:10s} conv {'-'.join(map(str, (c.in_shape[0], *c.channels)))} "
                  f"channels, fc {'-'.join(map(str, c.fc))}, part={c.part}  "
                  f"digest={c.digest}")
        return 0
    cfg = get_config(args.config)
    if args.save:
        cfg.save(args.save)
        print(f"wrote {args.save}")
        return 0
    d = cfg.to_dict()
    d["derived"] = {
        "digest": cfg.digest, "act_bits": cfg.act_bits, "beta_q": cfg.beta_q,
        "beta_effective": cfg.beta_effective, "update_q": list(cfg.update_q),
        "update_shift": cfg.update_shift, "acc_bits_needed": cfg.acc_bits_needed,
        "n_weights": cfg.n_weights,
    }
    print(json.dumps(d, indent=2))
    return 0
