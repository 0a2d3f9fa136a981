"""``edgecv train``: the seed recipes (Adam/SGD, CE or AdaptiveLoss, augmentation, transfer learning)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from edgecv.loaders.checkpoint import save_checkpoint
from edgecv.training.data import BUILTIN, load_data
from edgecv.errors import EdgecvError
from edgecv.training.losses import AdaptiveLoss
from edgecv.models import create_model, default_spec
from edgecv.training.transforms import eval_transform, train_transform


@dataclass
class TrainConfig:
    data: str
    arch: str
    out: Path
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"
    img_size: int | None = None
    augment: bool = True
    freeze_backbone: bool = False
    loss: str = "ce"
    seed: int = 0
    val_split: float = 0.2
    weight_decay: float = 0.0
    model_kwargs: dict = field(default_factory=dict)


@dataclass
class TrainResult:
    best_acc: float
    best_epoch: int
    history: list[dict]
    seconds: float
    out: Path


class _Samples(Dataset):
    def __init__(self, images, targets, transform, cache: bool):
        self.images, self.targets, self.transform = images, targets, transform
        self._cache = [transform(im) for im in images] if cache else None

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        x = self._cache[i] if self._cache is not None else self.transform(self.images[i])
        return x, int(self.targets[i])


def head_module(model: nn.Module) -> nn.Module:
    """The classifier head: the last Linear (or the named head) whose out_features is num_classes."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise EdgecvError("--freeze-backbone needs a model with a Linear classifier head")
    return linears[-1]


def _optimizer(name, params, lr, wd):
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd or 0.05)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd, nesterov=True)
    raise EdgecvError(f"unknown optimizer {name!r}", "use adam, adamw or sgd")


def evaluate(model, loader) -> float:
    model.eval()
    correct = total = 0
    with torch.inference_mode():
        for x, y in loader:
            correct += (model(x).argmax(1) == y).sum().item()
            total += len(y)
    return correct / max(total, 1)


def train(cfg: TrainConfig, progress=None) -> TrainResult:
    """Train, keep the best checkpoint by validation accuracy (written atomically)."""
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    t0 = time.perf_counter()
    train_split, val_split = load_data(cfg.data, cfg.val_split, cfg.seed)
    kwargs = dict(cfg.model_kwargs)
    if cfg.img_size:
        kwargs["img_size"] = cfg.img_size
    if cfg.data in BUILTIN:  # grayscale digits
        kwargs.setdefault("in_chans", 1)
        kwargs.setdefault("img_size", 28)
    n = len(train_split.labels)
    model = create_model(cfg.arch, num_classes=n, **kwargs)
    spec = default_spec(cfg.arch, num_classes=n, labels=train_split.labels, model_kwargs=kwargs)
    spec.exif_transpose = True  # the training loader (data.LazyImages) applies ImageOps.exif_transpose
    if cfg.data in BUILTIN:
        spec.resize = None  # 8x8 / 28x28 digits are resized straight to the input size
    flip = cfg.data not in BUILTIN  # mirrored digits are other digits
    tr = _Samples(train_split.images, train_split.targets, train_transform(spec, cfg.augment, flip),
                  cache=not cfg.augment and cfg.data in BUILTIN)
    va = _Samples(val_split.images, val_split.targets, eval_transform(spec), cache=cfg.data in BUILTIN)
    gen = torch.Generator().manual_seed(cfg.seed)
    train_loader = DataLoader(tr, batch_size=cfg.batch_size, shuffle=True, generator=gen)
    val_loader = DataLoader(va, batch_size=256)

    params = model.parameters()
    if cfg.freeze_backbone:
        head = head_module(model)
        for p in model.parameters():
            p.requires_grad_(False)
        for p in head.parameters():
            p.requires_grad_(True)
        params = head.parameters()
    opt = _optimizer(cfg.optimizer, [p for p in params if p.requires_grad], cfg.lr, cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.epochs, 1))
    if cfg.loss == "ce":
        criterion = nn.CrossEntropyLoss()
    elif cfg.loss == "adaptive":
        criterion = AdaptiveLoss(class_counts=np.bincount(train_split.targets, minlength=n))
    else:
        raise EdgecvError(f"unknown loss {cfg.loss!r}", "use ce or adaptive")

    best, best_epoch, history = -1.0, -1, []
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        if cfg.freeze_backbone:  # keep frozen BatchNorm statistics frozen too
            for m in model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        total, seen = 0.0, 0
        task = progress.add_task(f"epoch {epoch}/{cfg.epochs}", total=len(train_loader)) if progress else None
        for x, y in train_loader:
            opt.zero_grad(set_to_none=True)
            loss = criterion(model(x), y)
            loss.backward()
            opt.step()
            total += loss.item() * len(y)
            seen += len(y)
            if progress:
                progress.update(task, advance=1, description=f"epoch {epoch}/{cfg.epochs} loss {total / seen:.4f}")
        sched.step()
        acc = evaluate(model, val_loader)
        history.append({"epoch": epoch, "loss": total / max(seen, 1), "val_acc": acc})
        if progress:
            progress.update(task, description=f"epoch {epoch}/{cfg.epochs} loss {total / seen:.4f} val_acc {acc:.4f}")
        if acc > best:
            best, best_epoch = acc, epoch
            save_checkpoint(cfg.out, model, spec, meta={
                "val_acc": acc, "epoch": epoch, "data": cfg.data, "seed": cfg.seed,
                "train_config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items()}})
    return TrainResult(best, best_epoch, history, time.perf_counter() - t0, Path(cfg.out))
