"""Matrix reports: CSV, heatmap (rows source, columns target, as in the paper's figure) and a summary."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from .api import distance_matrix
from .base import get_distance

__all__ = ["matrix_summary", "write_matrix_report", "spearman_offdiag", "summary_markdown"]


def _dataset(task: str) -> str:
    return task.split(":", 1)[0]


def matrix_summary(tasks: list[str], matrix) -> dict:
    """Mean distance within and across datasets, per dataset pair, and for each target its nearest other task.

    ``matrix[i][j]`` is d(tasks[i] → tasks[j]). ``rank_auc`` is, averaged over targets, the fraction of (same-dataset
    source, other-dataset source) pairs in which the same-dataset source is nearer: 1 is perfect, 0.5 is chance.
    """
    m = np.asarray(matrix, dtype=float)
    n = len(tasks)
    ds = [_dataset(t) for t in tasks]
    within = [m[i, j] for i in range(n) for j in range(n) if i != j and ds[i] == ds[j]]
    across = [m[i, j] for i in range(n) for j in range(n) if ds[i] != ds[j]]
    pairs: dict[str, list[float]] = {}
    for i in range(n):
        for j in range(n):
            if i != j:
                pairs.setdefault(f"{ds[i]}->{ds[j]}", []).append(m[i, j])
    nearest, aucs = {}, []
    for j in range(n):
        others = [i for i in range(n) if i != j]
        if not others:
            continue
        best = min(others, key=lambda i: (m[i, j], tasks[i]))
        nearest[tasks[j]] = {"nearest": tasks[best], "distance": float(m[best, j]), "same_dataset": ds[best] == ds[j],
                             "column_mean": float(np.mean([m[i, j] for i in others]))}
        same = [m[i, j] for i in others if ds[i] == ds[j]]
        diff = [m[i, j] for i in others if ds[i] != ds[j]]
        if same and diff:
            aucs.append(np.mean([(a < b) + 0.5 * (a == b) for a in same for b in diff]))
    return {
        "tasks": list(tasks),
        "mean_within": float(np.mean(within)) if within else None,
        "mean_across": float(np.mean(across)) if across else None,
        "mean_by_pair": {k: float(np.mean(v)) for k, v in sorted(pairs.items())},
        "nearest": nearest,
        "nearest_same_dataset": sum(v["same_dataset"] for v in nearest.values()),
        "targets": len(nearest),
        "rank_auc": float(np.mean(aucs)) if aucs else None,
    }


def spearman_offdiag(a, b) -> float:
    """Spearman rank correlation between two matrices over their off-diagonal cells."""
    from scipy.stats import spearmanr

    a, b = np.asarray(a, float), np.asarray(b, float)
    mask = ~np.eye(len(a), dtype=bool)
    if np.ptp(a[mask]) == 0 or np.ptp(b[mask]) == 0:
        return float("nan")  # a constant matrix has no ranking to correlate
    return float(spearmanr(a[mask], b[mask]).statistic)


def _heatmap(tasks: list[str], m: np.ndarray, title: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(tasks)
    fig, ax = plt.subplots(figsize=(1.0 + 0.62 * n, 0.8 + 0.55 * n))
    im = ax.imshow(m, cmap="viridis_r")
    labels = [t.replace("-vs-rest", "").replace("fashion-mnist", "fashion") for t in tasks]
    ax.set_xticks(range(n), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    ax.set_xlabel("target")
    ax.set_ylabel("source")
    fmt = "{:.0f}" if np.nanmax(m) >= 10 else "{:.2f}"
    cut = np.nanmin(m) + 0.5 * (np.nanmax(m) - np.nanmin(m))
    for i in range(n):
        for j in range(n):
            ax.text(j, i, fmt.format(m[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if m[i, j] > cut else "black")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary_markdown(method: str, summary: dict) -> str:
    lines = [f"**{method}**: nearest other task from the same dataset for {summary['nearest_same_dataset']} of "
             f"{summary['targets']} targets; mean distance within datasets {summary['mean_within']:.4g}, across "
             f"{summary['mean_across']:.4g}; rank AUC {summary['rank_auc']:.3f}", "",
             "| source → target datasets | mean distance |", "|---|---|"]
    lines += [f"| {k} | {v:.4g} |" for k, v in summary["mean_by_pair"].items()]
    # The column mean (every other source's distance to the target) shows how hard a target is to reach at all.
    lines += ["", "| target | nearest other task | distance | same dataset | mean over all other sources |",
              "|---|---|---|---|---|"]
    lines += [f"| {t} | {v['nearest']} | {v['distance']:.4g} | {'yes' if v['same_dataset'] else 'no'} "
              f"| {v['column_mean']:.4g} |" for t, v in summary["nearest"].items()]
    return "\n".join(lines)


def write_matrix_report(out_dir: str | Path, method: str, tasks: list[str], matrix, seconds: float | None = None,
                        prefix: str = "distance", extra: dict | None = None) -> dict:
    """Write ``<prefix>-<method>.csv``, ``.png`` and ``.json`` (summary) into ``out_dir``; returns the summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    m = np.asarray(matrix, float)
    with open(out / f"{prefix}-{method}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["source \\ target", *tasks])
        for t, row in zip(tasks, m):
            w.writerow([t, *(f"{v:.6g}" for v in row)])
    summary = matrix_summary(tasks, m)
    summary.update(method=method, seconds=seconds, **(extra or {}))
    _heatmap(tasks, m, f"{method} distance d(source → target)", out / f"{prefix}-{method}.png")
    (out / f"{prefix}-{method}.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def matrices_report(store, methods: list[str], settings: dict[str, dict], out_dir: str | Path, data_dir=None,
                    seed: int = 0, prefix: str = "distance", echo=print) -> tuple[dict, dict, list[str]]:
    """Compute each method's matrix over ``store`` and write its report files (:func:`write_matrix_report`).

    Returns ``(matrices, summaries, markdown)``: ``{method: (tasks, matrix)}``, ``{method: summary}`` and the Markdown
    lines of every summary followed by the pairwise Spearman correlations. ``echo`` gets a one-line result per method.
    """
    matrices, summaries, lines = {}, {}, []
    for name in methods:
        tasks, matrix, seconds = distance_matrix(store, name, data_dir, seed, **settings.get(name, {}))
        summary = write_matrix_report(out_dir, name, tasks, matrix, seconds, prefix=prefix,
                                      extra={"settings": get_distance(name, **settings.get(name, {})).settings_dict()})
        matrices[name], summaries[name] = (tasks, matrix), summary
        lines += [summary_markdown(name, summary), ""]
        echo(f"{name}: nearest other task from the same dataset for {summary['nearest_same_dataset']}/"
             f"{summary['targets']} targets; mean within {summary['mean_within']:.4g}, across "
             f"{summary['mean_across']:.4g} ({seconds:.1f}s)")
    names = list(matrices)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            rho = spearman_offdiag(matrices[a][1], matrices[b][1])
            lines.append(f"Spearman rank correlation {a} vs {b} (off-diagonal cells): {rho:.3f}")
            echo(f"Spearman rank correlation {a} vs {b}: {rho:.3f}")
    return matrices, summaries, lines
