"""What people look at after a sweep: a table per job kind with mean ± std over seeds,
a plot of each kind's main figure against the swept field, and the accuracy against
cost (logic cells, f_max, samples/s) with the Pareto front marked."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

#: figures each kind reports; the first is its main one
METRICS: dict[str, tuple[str, ...]] = {
    "train": ("test_acc", "train_acc", "samples_per_s"),
    "cycles": ("cycles_per_sample",),
    "fit": ("bound_samples_per_s", "ram_kbit", "multipliers"),
    "build": ("fmax_mhz", "logic_cells", "ram_blocks", "dsps", "compute_samples_per_s"),
}
PERCENT = {"test_acc", "train_acc"}
#: cost axes of the Pareto plot: (kind, metric, higher is better)
COSTS = (("build", "logic_cells", False), ("build", "fmax_mhz", True),
         ("build", "compute_samples_per_s", True), ("fit", "bound_samples_per_s", True))


def mean_std(vals: list[float]) -> tuple[float, float | None]:
    m = sum(vals) / len(vals)
    if len(vals) < 2:
        return m, None
    return m, math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1))


def group(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Rows by (kind, point), points in the order they were first stored."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        out[(r["kind"], r["point"])].append(r)
    return out


def fmt(metric: str, vals: list[float]) -> str:
    if not vals:
        return "–"
    m, s = mean_std(vals)
    scale, unit = (100, "%") if metric in PERCENT else (1, "")
    whole = all(isinstance(v, int) for v in vals) and s in (None, 0.0)
    digits = 0 if whole or (abs(m) >= 100 and metric not in PERCENT) else 2
    text = f"{scale * m:.{digits}f}{unit}"
    return text + (f" ± {scale * s:.{digits}f}" if s is not None else "")


def tables(rows: list[dict[str, Any]], kinds: tuple[str, ...]) -> str:
    """Markdown: one table per kind, one line per point (in the order of ``rows``),
    mean ± std (n-1) over seeds."""
    out = []
    groups = group(rows)
    for kind in kinds:
        keys = [k for k in groups if k[0] == kind]
        if not keys:
            continue
        mets = METRICS[kind]
        extra = ["fits"] if kind in ("fit", "build") else []
        extra += ["timing met", "f_max min / median / max"] if kind == "build" else []
        out.append(f"{kind}:\n")
        out.append("| point | runs | " + " | ".join([*extra, *mets]) + " |")
        out.append("|---|---|" + "---|" * (len(extra) + len(mets)))
        for key in keys:
            rs = groups[key]
            res = [r["result"] for r in rs]
            cells = []
            if "fits" in extra:
                fits = [x.get("fits", True) for x in res]
                cells.append("yes" if all(fits) else "no: " + next(
                    (x.get("reason", "") for x in res if not x.get("fits", True)), "")[:60])
            if "timing met" in extra:
                cells.append(f"{sum(bool(x.get('timing_met')) for x in res)}/{len(res)}")
                f = [x["fmax_mhz"] for x in res if isinstance(x.get("fmax_mhz"), int | float)]
                cells.append(f"{min(f):.2f} / {statistics.median(f):.2f} / {max(f):.2f}"
                             if f else "–")
            for m in mets:
                vals = [x[m] for x in res if isinstance(x.get(m), int | float)
                        and not isinstance(x.get(m), bool)]
                cells.append(fmt(m, vals))
            out.append(f"| {key[1]} | {len(rs)} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def _numeric_field(rows: list[dict[str, Any]]) -> str | None:
    """The first swept parameter whose values are all numbers, taking more than one."""
    names: dict[str, set[Any]] = {}
    for r in rows:
        for k, v in r["params"].items():
            names.setdefault(k, set()).add(v if not isinstance(v, list) else tuple(v))
    for k, vals in names.items():
        if len(vals) > 1 and all(isinstance(v, int | float) and not isinstance(v, bool)
                                 for v in vals):
            return k
    return None


def plots(rows: list[dict[str, Any]], kinds: tuple[str, ...], out: Path, title: str
          ) -> list[Path]:
    """PNG files written: each kind's main figure against the swept field (error bars
    over seeds, a line per value of the other parameters) and, with training and
    build or fit results on the same points, accuracy against each cost."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    x_name = _numeric_field(rows)
    groups = group(rows)
    if x_name:
        for kind in kinds:
            metric = METRICS[kind][0]
            lines: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
            for (k, _), rs in groups.items():
                vals = [r["result"][metric] for r in rs
                        if isinstance(r["result"].get(metric), int | float)]
                if k != kind or not vals or x_name not in rs[0]["params"]:
                    continue
                rest = " ".join(f"{a}={b}" for a, b in rs[0]["params"].items()
                                if a != x_name) or kind
                m, s = mean_std(vals)
                lines[rest].append((rs[0]["params"][x_name], m, s or 0.0))
            if not lines:
                continue
            fig, ax = plt.subplots(figsize=(6, 4))
            for name, pts in lines.items():
                pts.sort()
                scale = 100 if metric in PERCENT else 1
                ax.errorbar([p[0] for p in pts], [scale * p[1] for p in pts],
                            yerr=[scale * p[2] for p in pts], marker="o", capsize=3,
                            label=name if len(lines) > 1 else None)
            ax.set_xlabel(x_name)
            ax.set_ylabel(metric + (" (%)" if metric in PERCENT else ""))
            ax.set_title(f"{title}: {kind}, mean ± std over seeds")
            ax.grid(alpha=0.3)
            if len(lines) > 1:
                ax.legend(fontsize=7)
            fig.tight_layout()
            path = out / f"{kind}_{metric}_vs_{x_name}.png"
            fig.savefig(path, dpi=110)
            plt.close(fig)
            written.append(path)
    acc = {p: mean_std([r["result"]["test_acc"] for r in rs
                        if isinstance(r["result"].get("test_acc"), int | float)])[0]
           for (k, p), rs in groups.items() if k == "train"}
    axes = []
    for kind, metric, higher in COSTS:
        pts = []
        for (k, p), rs in groups.items():
            vals = [r["result"][metric] for r in rs
                    if isinstance(r["result"].get(metric), int | float)
                    and r["result"].get("fits", True)]
            if k == kind and vals and p in acc:
                pts.append((mean_std(vals)[0], 100 * acc[p], p))
        if len(pts) >= 2:
            axes.append((metric, higher, pts))
    if axes:
        fig, axs = plt.subplots(1, len(axes), figsize=(5 * len(axes), 4), squeeze=False)
        for ax, (metric, higher, pts) in zip(axs[0], axes, strict=True):
            front = pareto(pts, higher)
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], c="tab:gray", s=18)
            fr = sorted(front)
            ax.plot([p[0] for p in fr], [p[1] for p in fr], "o-", c="tab:red",
                    label="Pareto front")
            for x, y, name in front:
                ax.annotate(name, (x, y), fontsize=6, xytext=(3, 3),
                            textcoords="offset points")
            ax.set_xlabel(metric + (" (higher is better)" if higher else " (lower is better)"))
            ax.set_ylabel("test accuracy (%)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        fig.suptitle(f"{title}: accuracy against cost")
        fig.tight_layout()
        path = out / "pareto.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def pareto(pts: list[tuple[float, float, str]], higher: bool) -> list[tuple[float, float, str]]:
    """Points no other point beats on both accuracy (y, higher is better) and x."""
    def better_x(a: float, b: float) -> bool:
        return a >= b if higher else a <= b

    return [p for p in pts if not any(
        q is not p and better_x(q[0], p[0]) and q[1] >= p[1] and (q[0], q[1]) != (p[0], p[1])
        for q in pts)]
