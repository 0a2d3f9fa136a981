"""PNG figures (matplotlib, Agg: no display needed).  Torch-free."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgecv.errors import EdgecvError


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise EdgecvError("plots need matplotlib", "pip install 'edgecv[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def confusion_png(cm: np.ndarray, labels: list[str], out: Path, title: str = "") -> Path:
    """Row-normalised confusion matrix (recall per true class) with label names on both axes;
    counts written in the cells up to 20 classes; the figure grows with the class count so 43
    (GTSRB) stay readable."""
    from edgecv.fileio import atomic_write

    plt = _pyplot()
    k = len(labels)
    rows = cm.sum(1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape, np.float64), where=rows > 0)
    side = max(5.0, 0.32 * k + 2.5)
    fs = max(5.0, min(10.0, 220.0 / max(k, 1)))
    fig, ax = plt.subplots(figsize=(side + 1.2, side))
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(k), labels, rotation=90, fontsize=fs)
    ax.set_yticks(range(k), labels, fontsize=fs)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    if k <= 20:
        for i in range(k):
            for j in range(k):
                if cm[i, j]:
                    ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=fs,
                            color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    fig.tight_layout()
    atomic_write(Path(out), lambda tmp: fig.savefig(tmp, dpi=120, format="png"), what="--plot", suffixes=(".png",))
    plt.close(fig)
    return Path(out)


def bench_png(rows: list[dict], out: Path, title: str = "") -> Path:
    """Horizontal bars of p50 latency per (model, candidate, batch), the floor drawn as a tick on each
    bar where it is known; one panel per batch size."""
    from edgecv.fileio import atomic_write

    plt = _pyplot()
    batches = sorted({r["batch"] for r in rows})
    n = max(len([r for r in rows if r["batch"] == b]) for b in batches) if rows else 1
    fig, axes = plt.subplots(1, len(batches), figsize=(6.0 * len(batches), 0.45 * n + 1.6), squeeze=False)
    for ax, b in zip(axes[0], batches):
        sel = [r for r in rows if r["batch"] == b]
        names = [f"{r['model']}: {r['candidate']}" for r in sel]
        y = np.arange(len(sel))
        ax.barh(y, [r["p50_ms"] for r in sel], color="tab:blue", label="p50 latency")
        floors = [(i, r["floor_ms"]) for i, r in enumerate(sel) if r.get("floor_ms")]
        if floors:
            ax.scatter([f for _, f in floors], [i for i, _ in floors], marker="|", s=300, color="tab:red",
                       label="floor (FLOPs / MatMul peak)", zorder=3)
        # each label starts right of both its bar and its floor tick, and the axis leaves room for it
        ends = [max(r["p50_ms"], r.get("floor_ms") or 0.0) for r in sel]
        for i, (r, end) in enumerate(zip(sel, ends)):
            ax.text(end * 1.03, i, f" {r['p50_ms']:.3g} ms ({r['speedup']:.2f}x)", va="center", fontsize=8)
        ax.set_yticks(y, names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("ms per batch")
        ax.set_title(f"batch {b}", fontsize=10)
        ax.set_xlim(0, max(ends, default=1.0) * 1.75)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    atomic_write(Path(out), lambda tmp: fig.savefig(tmp, dpi=110, format="png"), what="--plot", suffixes=(".png",))
    plt.close(fig)
    return Path(out)
