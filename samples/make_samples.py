"""Build what samples/ holds: the bundled sample model and a few real test images.

    python samples/make_samples.py            # only what is missing
    python samples/make_samples.py --force    # rebuild everything

- ``digits_fusion_cnn.pt``: fusion_cnn trained on scikit-learn's digits (seed 0, 15 epochs).
- ``digits/<label>/*.png``: 3 held-out digits per class (8x8 greyscale, from the validation split).
- ``photos/*.jpg``: real photos from scikit-image (licences in samples/LICENSES.md).
"""
from __future__ import annotations

import argparse
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODEL = HERE / "digits_fusion_cnn.pt"
PHOTOS = {"astronaut": "astronaut", "coffee": "coffee", "chelsea": "chelsea", "rocket": "rocket"}


def make_model(force: bool) -> None:
    if MODEL.exists() and not force:
        return
    from edgecv.training.train import TrainConfig, train

    r = train(TrainConfig(data="digits", arch="fusion_cnn", out=MODEL, epochs=15, batch_size=64,
                          lr=1e-3, augment=True, seed=0))
    print(f"trained {MODEL.name}: val_acc {r.best_acc:.4f} (epoch {r.best_epoch}) in {r.seconds:.1f}s")


def make_digits(force: bool) -> None:
    import numpy as np
    from PIL import Image

    from edgecv.training.data import _stratified_split, load_builtin

    root = HERE / "digits"
    if root.exists() and not force:
        return
    imgs, targets, labels = load_builtin("digits")
    _, val = _stratified_split(targets, 0.2, 0)  # the same held-out split the model never saw
    for label in range(10):
        picks = [i for i in val if targets[i] == label][:3]
        (root / labels[label]).mkdir(parents=True, exist_ok=True)
        for i in picks:
            Image.fromarray(np.ascontiguousarray(imgs[i]), mode="L").save(root / labels[label] / f"digit_{i:04d}.png")


def make_photos(force: bool) -> None:
    import skimage.data
    from PIL import Image

    root = HERE / "photos"
    root.mkdir(exist_ok=True)
    for name, fn in PHOTOS.items():
        out = root / f"{name}.jpg"
        if out.exists() and not force:
            continue
        Image.fromarray(getattr(skimage.data, fn)()).convert("RGB").save(out, quality=90)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    make_digits(a.force)
    make_photos(a.force)
    make_model(a.force)
