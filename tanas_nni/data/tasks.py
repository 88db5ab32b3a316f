"""Tasks: a (dataset, labelling) pair with deterministic train / validation / test splits.

Task ids are stable and readable, and are used everywhere (YAML, CLI, dictionary, reports):

=============================  ==================================================================
``mnist:3-vs-rest``            one-vs-rest binary: class 3 (label 1) against a class-balanced mix
                               of all other classes (label 0)
``fashion-mnist:trouser-vs-rest``  classes are named by their slug or their index (``1-vs-rest``)
``quickdraw:cat+dog+fish``     class subset: multi-class over those classes, labels in that order
``mnist:all``                  the full multi-class problem
=============================  ==================================================================

Sampling (which rows enter each split) depends only on the task, the split sizes and the seed; the test split is drawn from
the dataset's test pool and is never used for any search decision.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from ..core.errors import TanasError
from ..core.logs import warn
from .datasets import (FASHION_CLASSES, MNIST_CLASSES, ImagePools, download_quickdraw, load_dataset, resolve_data_dir,
                       slug)

__all__ = ["TaskSpec", "TaskData", "SplitSizes", "load_task", "canonical_task_id", "task_folder"]

Kind = Literal["one-vs-rest", "subset", "all"]
SPLITS = ("train", "val", "test")
STATIC_CLASSES = {"mnist": MNIST_CLASSES, "fashion-mnist": FASHION_CLASSES}


@dataclass(frozen=True)
class TaskSpec:
    """What a task is: a dataset and a labelling. Parse ids with :meth:`parse`, print them with ``str()``."""

    dataset: str
    kind: Kind
    classes: tuple[str, ...] = ()

    @classmethod
    def parse(cls, task_id: str) -> "TaskSpec":
        """Parse a task id. Classes of datasets whose class list is fixed (MNIST, Fashion-MNIST) are checked and put in
        canonical form here (``fashion-mnist:1-vs-rest`` -> ``fashion-mnist:trouser-vs-rest``); others when loaded."""
        spec = cls._parse(task_id)
        static = STATIC_CLASSES.get(spec.dataset)
        if static and spec.classes:
            names = []
            for c in spec.classes:
                if c in static:
                    names.append(c)
                elif c.isdigit() and int(c) < len(static):
                    names.append(static[int(c)])
                else:
                    raise TanasError(f"unknown class {c!r} in dataset {spec.dataset!r} (classes: {', '.join(static)})")
            if len(set(names)) != len(names):
                raise TanasError(f"task id {task_id!r}: a class is named twice")
            spec = dataclasses.replace(spec, classes=tuple(names))
        return spec

    @classmethod
    def _parse(cls, task_id: str) -> "TaskSpec":
        if not isinstance(task_id, str) or ":" not in task_id:
            raise TanasError(f"task id {task_id!r} must look like 'mnist:3-vs-rest', 'quickdraw:cat+dog' or 'mnist:all'")
        bad = next((c for c in task_id if not (c.isascii() and (c.isalnum() or c in " _-+:"))), None)
        if bad is not None:
            raise TanasError(f"task id {task_id!r}: {bad!r} is not allowed; dataset and class names are ASCII letters, "
                             f"digits, '-', '_' and spaces (name a dataset's classes so, e.g. its folders)")
        dataset, _, rest = task_id.strip().partition(":")
        dataset, rest = slug(dataset), rest.strip().lower()
        if not dataset or not rest:
            raise TanasError(f"task id {task_id!r} must look like 'mnist:3-vs-rest', 'quickdraw:cat+dog' or 'mnist:all'")
        if rest == "all":
            return cls(dataset, "all")
        if rest.endswith("-vs-rest"):
            pos = slug(rest[: -len("-vs-rest")])
            if not pos:
                raise TanasError(f"task id {task_id!r}: name the class before '-vs-rest'")
            return cls(dataset, "one-vs-rest", (pos,))
        parts = [slug(p) for p in rest.split("+")]
        if len(parts) < 2 or not all(parts) or len(set(parts)) != len(parts):
            raise TanasError(f"task id {task_id!r}: a class subset needs 2 or more distinct classes joined by '+'")
        return cls(dataset, "subset", tuple(parts))

    def __str__(self) -> str:
        if self.kind == "all":
            return f"{self.dataset}:all"
        if self.kind == "one-vs-rest":
            return f"{self.dataset}:{self.classes[0]}-vs-rest"
        return f"{self.dataset}:{'+'.join(self.classes)}"

    @property
    def id(self) -> str:
        return str(self)

    def canonical(self, pools: ImagePools) -> "TaskSpec":
        """The same task with class names as the dataset spells them (``1`` -> ``trouser``); errors for unknown classes."""
        names = tuple(slug(pools.classes[pools.class_index(c)]) for c in self.classes)
        return dataclasses.replace(self, classes=names)

    def to_dict(self) -> dict:
        return {"id": str(self), "dataset": self.dataset, "kind": self.kind, "classes": list(self.classes)}


@dataclass(frozen=True)
class SplitSizes:
    """How many examples each split holds (``None``: all that the balanced sampling allows)."""

    train: int | None = None
    val: int | None = None
    test: int | None = None

    def __post_init__(self):
        for s in SPLITS:
            v = getattr(self, s)
            if v is not None and v < 2:
                raise TanasError(f"{s}: must be at least 2 examples, got {v}")

    def sizes(self) -> "SplitSizes":  # the same object; kept so that configs and callers read alike
        return self


def canonical_task_id(task_id: str, where: str = "task") -> str:
    """The one spelling of a task id that is compared, stored and turned into folder names.

    ``fashion-mnist:1-vs-rest``, ``" FASHION-MNIST: Trouser-VS-rest"`` and ``fashion-mnist:trouser-vs-rest`` are one task.
    Call it where an id enters (a config field, a flag, a trial parameter); classes of a user's dataset given by index
    are named once the dataset is loaded (:func:`load_task` returns the data with its fully canonical ``spec``).
    """
    try:
        return str(TaskSpec.parse(task_id))
    except TanasError as e:
        raise TanasError(f"{where}: {e}") from None


def task_folder(task_id: str) -> str:
    """The folder name of a task (``mnist:3-vs-rest`` -> ``mnist__3-vs-rest``), from its canonical id.

    Canonical ids hold only ``[a-z0-9-]``, ``:`` and ``+``, so the name never holds ``..``, a separator or a control
    character, whatever the user typed.
    """
    return canonical_task_id(task_id).replace(":", "__").replace("+", "_")


@dataclass
class TaskData:
    """A task's splits as float tensors in [0, 1] of shape (N, 1, H, W) and int64 labels."""

    spec: TaskSpec
    class_names: tuple[str, ...]
    x: dict[str, torch.Tensor]
    y: dict[str, torch.Tensor]
    seed: int

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x["train"].shape[1:])  # type: ignore[return-value]

    @property
    def fingerprint(self) -> str:
        """sha256 (16 hex digits) over every split's pixels and labels: identifies exactly the data a result used."""
        h = hashlib.sha256()
        for s in SPLITS:
            h.update(s.encode())
            h.update((self.x[s] * 255).round().to(torch.uint8).numpy().tobytes())
            h.update(self.y[s].numpy().astype(np.int64).tobytes())
        return h.hexdigest()[:16]

    def sizes(self) -> dict[str, int]:
        return {s: len(self.y[s]) for s in SPLITS}

    def __repr__(self) -> str:
        return f"TaskData({self.spec}, sizes={self.sizes()}, seed={self.seed})"


def _balanced_negatives(labels: np.ndarray, positives: set[int], n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` rows drawn as evenly as possible from every class not in ``positives`` (a class short of rows gives all it
    has and the rest is spread over the others)."""
    others = [k for k in np.unique(labels) if k not in positives]
    pools = {k: rng.permutation(np.flatnonzero(labels == k)) for k in others}
    take = {k: 0 for k in others}
    remaining = n
    open_ = [k for k in others if len(pools[k])]
    while remaining > 0 and open_:
        share, extra = divmod(remaining, len(open_))
        for i, k in enumerate(open_):
            want = share + (1 if i < extra else 0)
            got = min(want, len(pools[k]) - take[k])
            take[k] += got
            remaining -= got
        open_ = [k for k in open_ if take[k] < len(pools[k])]
    return np.concatenate([pools[k][: take[k]] for k in others]) if others else np.empty(0, np.int64)


def _sample_split(spec: TaskSpec, pools: ImagePools, split: str, size: int | None, rng: np.random.Generator):
    labels = pools.labels[split]
    if spec.kind == "one-vs-rest":
        pos_cls = pools.class_index(spec.classes[0])
        pos = rng.permutation(np.flatnonzero(labels == pos_cls))
        n_pos = len(pos) if size is None else min(len(pos), size - size // 2)
        n_neg = n_pos if size is None else min(size - n_pos, len(labels) - len(pos))
        neg = _balanced_negatives(labels, {pos_cls}, n_neg, rng)
        idx = np.concatenate([pos[:n_pos], neg])
        y = np.concatenate([np.ones(n_pos, np.int64), np.zeros(len(neg), np.int64)])
    else:
        chosen = ([pools.class_index(c) for c in spec.classes] if spec.kind == "subset"
                  else list(range(len(pools.classes))))
        per = [rng.permutation(np.flatnonzero(labels == k)) for k in chosen]
        if size is not None:
            # As even as the pools allow: each class gets its share, a short class leaves its rest to the others.
            quota, left, open_ = [0] * len(per), size, list(range(len(per)))
            while left > 0 and open_:
                share, extra = divmod(left, len(open_))
                for j, i in enumerate(open_):
                    got = min(share + (1 if j < extra else 0), len(per[i]) - quota[i])
                    quota[i] += got
                    left -= got
                open_ = [i for i in open_ if quota[i] < len(per[i])]
            per = [p[:q] for p, q in zip(per, quota)]
        idx = np.concatenate(per)
        y = np.concatenate([np.full(len(p), j, np.int64) for j, p in enumerate(per)])
    if len(idx) < 2 or len(np.unique(y)) < 2:
        raise TanasError(f"task {spec}: the {split} split would hold {len(idx)} examples of {len(np.unique(y))} "
                         f"class(es); it needs both classes")
    order = rng.permutation(len(idx))
    return pools.images[split][idx[order]], y[order]


def load_task(task: str | TaskSpec, data_dir=None, seed: int = 0, sizes: SplitSizes | None = None,
              max_per_class: int | None = None) -> TaskData:
    """Resolve a task id against its dataset and sample its deterministic splits.

    Parameters
    ----------
    task
        A task id (``"quickdraw:cat-vs-rest"``) or a :class:`TaskSpec`.
    data_dir
        The data root (see :func:`tanas_nni.data.datasets.resolve_data_dir`).
    seed
        Drives which rows are sampled (negatives of one-vs-rest tasks, caps) and their order.
    sizes
        Examples per split; by default every positive example and as many balanced negatives.
    max_per_class
        Read at most this many rows per class from the dataset files (for very large Quick, Draw! files).
    """
    spec = task if isinstance(task, TaskSpec) else TaskSpec.parse(task)
    pools = load_dataset(spec.dataset, data_dir, max_per_class)
    try:
        spec = spec.canonical(pools)
    except TanasError:
        if spec.dataset != "quickdraw":
            raise
        # A Quick, Draw! category that is not on disk yet: fetch the official file (a clear error when offline).
        missing = [c for c in spec.classes if not any(slug(k) == c for k in pools.classes)]
        for c in missing:
            if c in pools.skipped:  # on disk but unreadable: say so rather than fetch another copy over it
                raise TanasError(pools.skipped[c])
        for c in missing:
            download_quickdraw(c, resolve_data_dir(data_dir))
        load_dataset.cache_clear()
        pools = load_dataset(spec.dataset, data_dir, max_per_class)
        spec = spec.canonical(pools)
    sizes = sizes or SplitSizes()
    # One independent stream per split so that changing one split's size leaves the others unchanged.
    seeds = np.random.SeedSequence([seed, int(hashlib.sha256(str(spec).encode()).hexdigest()[:8], 16)]).spawn(3)
    x, y = {}, {}
    for split, ss in zip(SPLITS, seeds):
        imgs, labels = _sample_split(spec, pools, split, getattr(sizes, split), np.random.default_rng(ss))
        x[split] = torch.from_numpy(imgs.astype(np.float32) / 255.0).unsqueeze(1)
        y[split] = torch.from_numpy(labels)
        wanted = getattr(sizes, split)
        if wanted is not None and len(labels) < wanted:
            warn(f"{spec}: the {split} split has {len(labels)} examples, fewer than the {wanted} asked for "
                 f"(all that the {'class-balanced ' if spec.kind == 'one-vs-rest' else ''}sampling allows); using "
                 f"{len(labels)}")
    if spec.kind == "one-vs-rest":
        names = (f"not-{spec.classes[0]}", spec.classes[0])
    elif spec.kind == "subset":
        names = spec.classes
    else:
        names = tuple(slug(c) for c in pools.classes)
    return TaskData(spec, names, x, y, seed)
