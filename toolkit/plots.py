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
    atomic_write(Path(out), lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)
    return Path(out)
