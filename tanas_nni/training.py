"""One training recipe, shared by every stage that trains a network from scratch.

The dictionary's representative networks, the retraining of a searched architecture and every baseline in the comparison
go through :func:`fit`, so that architectures are compared under one recipe (the recipe moves error as much as the
architecture does). Plain torch on in-memory tensors: the images are tiny and a DataLoader's worker overhead would dominate
on 2 CPU cores. One-shot searches (FUSE, DARTS) train through NNI's Lightning modules instead.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Literal

import torch
import torch.nn.functional as F
from torch import nn

from .core.config import LATER, check_range
from .core.errors import NumericalError

__all__ = ["TrainConfig", "fit", "evaluate", "random_shift", "random_flip", "seed_everything", "seeded_init", "reinitialise", "check_finite", "count_parameters",
           "recalibrate_bn", "derive_seed"]


@dataclass
class TrainConfig:
    """The training recipe.

    Defaults: AdamW (lr 3e-3, weight decay 5e-4) with a one-cycle schedule, batch 128, random shifts of up to ±2 px, and the
    weights of the epoch with the best validation accuracy kept (chosen on validation, never on test).

    ``bn_recalibration``: before each evaluation, batch-norm statistics are recomputed for the current weights from this
    many training images (0: off). With few steps per epoch the running averages lag weights that a one-cycle schedule
    changes fast, and a network that trains well can evaluate at chance; recomputing costs one forward pass over these
    images (about a tenth of an epoch on 4,200 images).

    ``flip``: mirror each training image left-right with probability 1/2 (after the shift). For data whose label does
    not depend on which way the image faces (drawings, clothes, photos); not for digits or text, where a mirrored
    image can belong to no class or to another. Off by default; docs/training.md has its measurement.
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 5e-4
    optimizer: Literal["adamw", "adam", "sgd"] = "adamw"
    schedule: Literal["onecycle", "cosine", "constant"] = "onecycle"
    shift: int = 2
    keep_best: bool = True
    bn_recalibration: int = 1024
    flip: bool = field(default=False, metadata=LATER)

    def __post_init__(self):
        check_range("epochs", self.epochs, 1)
        check_range("batch_size", self.batch_size, 1)
        check_range("lr", self.lr, 0, lo_open=True)
        check_range("weight_decay", self.weight_decay, 0)
        check_range("shift", self.shift, 0, 8)
        check_range("bn_recalibration", self.bn_recalibration, 0)


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's global RNG (weight init, dropout) and return a generator for data order and augmentation."""
    torch.manual_seed(seed)
    g = torch.Generator()
    g.manual_seed(seed)
    return g


@contextlib.contextmanager
def seeded_init(seed: int) -> Iterator[None]:
    """Build a network inside this block and its initial weights depend on ``seed`` alone.

    Not on what ran before in the process (a search, a resumed search, another method), and the global generator is
    left as it was: ``with seeded_init(seed): model = build_model(arch, ...)``.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def reinitialise(model: nn.Module, seed: int) -> nn.Module:
    """Give a network someone else built (NNI's engines build the models of a multi-trial search) the initial weights
    ``seed`` gives: every module's own ``reset_parameters``, in module order, under :func:`seeded_init`."""
    with seeded_init(seed):
        for m in model.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    return model


def derive_seed(seed: int, *names: str) -> int:
    """A seed for one named unit of work (a task), stable across runs and platforms, distinct between names."""
    digest = hashlib.sha256(":".join([str(seed), *names]).encode()).hexdigest()
    return int(digest[:8], 16)


def default_device() -> str:
    """Where training runs unless told otherwise: the GPU when torch sees one."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def random_shift(x: torch.Tensor, pixels: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by a random integer offset in [-pixels, pixels]² with zero fill."""
    if pixels <= 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (pixels, pixels, pixels, pixels))
    dx = torch.randint(0, 2 * pixels + 1, (n,), generator=generator)
    dy = torch.randint(0, 2 * pixels + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None, :])  # (n, h)
    cols = (dx[:, None] + torch.arange(w)[None, :])  # (n, w)
    idx_n = torch.arange(n)[:, None, None]
    # Index a channels-last view so that the gathered (n, h, w) block keeps its channels together.
    return padded.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    mirrored = torch.rand(len(x), generator=generator) < 0.5
    return torch.where(mirrored[:, None, None, None], x.flip(-1), x)


@torch.no_grad()
def recalibrate_bn(model: nn.Module, x: torch.Tensor, images: int = 1024, batch_size: int = 256) -> None:
    """Recompute every batch-norm layer's running statistics for the current weights from ``x[:images]``
    (torch's :func:`~torch.optim.swa_utils.update_bn`: a cumulative average over the batches, model mode restored)."""
    if images <= 0 or not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return
    device = next(model.parameters()).device
    batches = [x[i:i + batch_size].to(device) for i in range(0, min(images, len(x)), batch_size)]
    torch.optim.swa_utils.update_bn(batches, model)


def check_finite(loss: torch.Tensor, stage: str, task: str, step: int) -> None:
    """Stop with a clear message when a loss is NaN or infinite."""
    if not torch.isfinite(loss).all():
        raise NumericalError(f"{stage}: loss became {loss.item()} on task {task} at step {step}; "
                             f"lower the learning rate or check the data")


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> dict[str, float]:
    """Accuracy and mean cross-entropy of ``model`` on (x, y)."""
    model.eval()
    device = next(model.parameters()).device
    correct, loss = 0, 0.0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
        out = model(xb)
        loss += F.cross_entropy(out, yb, reduction="sum").item()
        correct += (out.argmax(1) == yb).sum().item()
    return {"acc": correct / max(len(x), 1), "loss": loss / max(len(x), 1)}


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = model.parameters()
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay)


def fit(model: nn.Module, data, cfg: TrainConfig, seed: int = 0, device: str | torch.device | None = None,
        stage: str = "training", on_epoch: Callable[[int, dict], None] | None = None,
        evaluate_test: bool = True) -> dict:
    """Train ``model`` on ``data.x['train']`` with recipe ``cfg``; select the epoch on validation; report test once.

    Returns a dict with ``train_acc``, ``val_acc``, ``test_acc`` (if ``evaluate_test``), ``best_epoch``, ``seconds`` and
    ``history`` (per-epoch train loss and val accuracy). ``on_epoch(epoch, row)`` is called after each epoch (progress,
    NNI intermediate results).
    """
    g = seed_everything(seed)
    device = device or default_device()
    model.to(device)
    x, y = data.x["train"], data.y["train"]
    opt = _optimizer(model, cfg)
    steps_per_epoch = math.ceil(len(x) / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    if cfg.schedule == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total)
    elif cfg.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    else:
        sched = None
    best_acc, best_state, best_epoch, history = -1.0, None, 0, []
    start, step = time.perf_counter(), 0
    task = str(getattr(data, "spec", "?"))
    for epoch in range(cfg.epochs):
        model.train()
        perm = torch.randperm(len(x), generator=g)
        total_loss = 0.0
        for i in range(0, len(x), cfg.batch_size):
            idx = perm[i:i + cfg.batch_size]
            xb = random_shift(x[idx], cfg.shift, g)
            if cfg.flip:
                xb = random_flip(xb, g)
            xb = xb.to(device)
            yb = y[idx].to(device)
            loss = F.cross_entropy(model(xb), yb)
            check_finite(loss, stage, task, step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            total_loss += loss.item() * len(idx)
            step += 1
        recalibrate_bn(model, x, cfg.bn_recalibration)
        val = evaluate(model, data.x["val"], data.y["val"])
        row = {"epoch": epoch + 1, "train_loss": total_loss / len(x), "val_acc": val["acc"], "val_loss": val["loss"]}
        history.append(row)
        if on_epoch:
            on_epoch(epoch + 1, row)
        if val["acc"] > best_acc:
            best_acc, best_epoch = val["acc"], epoch + 1
            if cfg.keep_best:
                best_state = copy.deepcopy(model.state_dict())
    if cfg.keep_best and best_state is not None:
        model.load_state_dict(best_state)
    out = {"train_acc": evaluate(model, x, y)["acc"], "val_acc": evaluate(model, data.x["val"], data.y["val"])["acc"],
           "best_epoch": best_epoch, "seconds": time.perf_counter() - start, "history": history}
    if evaluate_test:
        out["test_acc"] = evaluate(model, data.x["test"], data.y["test"])["acc"]
    return out
