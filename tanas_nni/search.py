"""The search pipeline: space → FUSE → retrain → export.

:func:`search` finds an architecture for a target task (FUSE over the task-aware or the standard space, on the train and
validation splits only); :func:`retrain` trains it from scratch with the shared recipe :func:`tanas_nni.training.fit` and
evaluates it once on the test split; :func:`run_pipeline` does both and writes an export folder that
:func:`load_exported` turns back into the trained network. ``tanas search`` and the nnictl trials call these functions;
``on_progress(stage, info)`` reports progress (stage ``"space"``, ``"search"``, ``"retrain"``, ``"done"``).

Export folder (``out``)::

    architecture.json    the winner: {"arch", "key", "str", "num_classes", "input_shape"}
    weights.pt           its retrained state_dict
    metrics.json         test error, parameters, search/retrain seconds, device, data fingerprint, ...
    config.yml           the resolved SearchConfig
    ranking.csv          every candidate FUSE compared, best first, with its α probability
    alpha_trajectory.csv softmax(α) after every phase-epoch
    space.json           the space searched (neighbours, priors) and the candidate pool
    search/              FUSE's Lightning checkpoints (rerunning the same command resumes the search from them)
"""
from __future__ import annotations

import csv
import json
import platform
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import yaml

from .config import check_range, from_dict, load_yaml, to_dict
from .errors import TanasError
from .records import atomic_write_json, library_versions
from .training import TrainConfig, count_parameters, derive_seed, evaluate, fit, recalibrate_bn

__all__ = ["FuseConfig", "ArchitectureSearchConfig", "dictionary_architectures", "SearchSamples", "SearchConfig", "SearchResult", "load_search_config", "build_space",
           "search", "retrain", "run_pipeline", "load_exported", "STRATEGIES", "SPACES"]

STRATEGIES = ("fuse",)
SPACES = ("task-aware", "standard")

ProgressFn = Callable[[str, dict], None]


@dataclass
class FuseConfig:
    """FUSE's budget and learning rates (see :class:`tanas_nni.strategy.FUSE`).

    Defaults: 4 candidates per round, 3 rounds (10 candidates in all), 2 cycles of (1 weight epoch, 5 α epochs) per
    round, weights AdamW lr 3e-3 (weight decay 5e-4), α Adam lr 0.05, every round's candidates re-initialised.
    """

    candidates_per_round: int = 4
    rounds: int = 3
    cycles: int = 2
    weight_epochs: int = 1
    alpha_epochs: int = 5
    weight_lr: float = 3e-3
    weight_decay: float = 5e-4
    alpha_lr: float = 0.05
    batch_size: int = 128
    reset_weights: bool = True

    def __post_init__(self):
        check_range("candidates_per_round", self.candidates_per_round, 2)
        check_range("rounds", self.rounds, 1)
        check_range("cycles", self.cycles, 1)
        check_range("weight_epochs", self.weight_epochs, 1)
        check_range("alpha_epochs", self.alpha_epochs, 1)
        check_range("weight_lr", self.weight_lr, 0, lo_open=True)
        check_range("weight_decay", self.weight_decay, 0)
        check_range("alpha_lr", self.alpha_lr, 0, lo_open=True)
        check_range("batch_size", self.batch_size, 1)


@dataclass
class ArchitectureSearchConfig:
    """The search that gives every base task of a dictionary its architecture (``tanas dictionary architectures``).

    FUSE on the standard space with a small budget: 3 candidates per round, 2 rounds (5 candidates), 1 cycle, on 1000
    training and 500 validation examples of the task (the test split is not used). The winner's score is its α
    probability and the validation accuracy of its search-trained weights. ``seed`` defaults to the dictionary's.
    """

    space_file: str | None = None
    train: int = 1000
    val: int = 500
    seed: int | None = None
    fuse: FuseConfig = field(default_factory=lambda: FuseConfig(candidates_per_round=3, rounds=2, cycles=1))

    def __post_init__(self):
        check_range("architecture_search.train", self.train, 2)
        check_range("architecture_search.val", self.val, 2)


@dataclass
class SearchSamples:
    """Examples per split of the target (``null``: all that the balanced sampling allows)."""

    train: int | None = None
    val: int | None = None
    test: int | None = None


@dataclass
class SearchConfig:
    """Everything a search → retrain → export run depends on (``tanas search --config``; flags override it)."""

    target: str = ""
    space: str = "task-aware"
    strategy: str = "fuse"
    dictionary: str = "runs/dictionary"
    data_dir: str | None = None
    k: int = 3
    method: str = "fisher"
    tau: float | None = None
    space_file: str | None = None  # the standard space's YAML (default search_spaces/standard.yml)
    candidates: int | None = None  # candidate pool size; default: exactly what FUSE's rounds consume
    seed: int = 0
    samples: SearchSamples = field(default_factory=SearchSamples)
    fuse: FuseConfig = field(default_factory=FuseConfig)
    retrain: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=20))
    out: str | None = None
    threads: int | None = None

    def __post_init__(self):
        if self.space not in SPACES:
            raise TanasError(f"space: unknown space {self.space!r} (known: {', '.join(SPACES)})")
        if self.strategy not in STRATEGIES:
            raise TanasError(f"strategy: unknown strategy {self.strategy!r} (known: {', '.join(STRATEGIES)})")
        if self.method not in ("fisher", "transfer"):
            raise TanasError(f"method: unknown distance {self.method!r} (known: fisher, transfer)")
        check_range("k", self.k, 1)
        check_range("candidates", self.candidates, 2)
        check_range("threads", self.threads, 1)
        check_range("tau", self.tau, 0, lo_open=True)

    def pool(self) -> int:
        from .strategy.fuse import pool_size

        return self.candidates or pool_size(self.fuse.candidates_per_round, self.fuse.rounds)


def load_search_config(path: str | Path | None = None, overrides: dict | None = None) -> SearchConfig:
    """A :class:`SearchConfig` from an optional YAML file, then ``overrides`` (None values are ignored)."""
    data: dict = load_yaml(path) if path else {}
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if "." in key:  # "fuse.rounds" -> data["fuse"]["rounds"]
            head, tail = key.split(".", 1)
            sub = data.setdefault(head, {})
            if not isinstance(sub, dict):
                raise TanasError(f"{path}: {head} must be a mapping")
            sub[tail] = value
        else:
            data[key] = value
    cfg = from_dict(SearchConfig, data, where=str(path) if path else "search")
    if path:
        # Paths written in the file are relative to the file (as in the dictionary config and NNI's YAML).
        given = {k for k, v in (overrides or {}).items() if v is not None}
        base = Path(path).parent
        for key in ("dictionary", "data_dir", "space_file", "out"):
            value = getattr(cfg, key)
            if value and key not in given and not Path(value).expanduser().is_absolute():
                setattr(cfg, key, str((base / value).resolve()))
    if not cfg.target:
        raise TanasError("target: no target task given (e.g. --target quickdraw:cat-vs-rest)")
    return cfg


@dataclass
class SearchResult:
    """What the search decided (before retraining). ``winner_val_acc``: the winner's validation accuracy with the
    weights it got during the search (a cheap score, no retraining)."""

    winner: Any  # Architecture
    ranking: list[dict]  # {"rank", "choice", "architecture", "key", "probability", "round", "winner"}
    trajectory: list[dict]
    candidates: list  # the pool, in the order FUSE met them
    space: dict  # describe() of the space
    seconds: float
    rounds_run: int
    winner_probability: float = float("nan")
    winner_val_acc: float = float("nan")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_description() -> str:
    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return f"cpu: {_cpu_name()}, {torch.get_num_threads()} threads"


def build_space(cfg: SearchConfig, store=None, progress: ProgressFn | None = None):
    """The space to search: ``TaskAwareSpace.from_dictionary`` (task-aware) or ``TaskAwareSpace.standard()``."""
    from .space import TaskAwareSpace

    if cfg.space == "standard":
        return TaskAwareSpace.standard(cfg.space_file, seed=cfg.seed)
    from .dictionary import DictionaryStore

    store = store or DictionaryStore.open(cfg.dictionary)
    others = [t for t in store.task_ids() if t != cfg.target]
    if not others:
        raise TanasError(f"dictionary {store.root}: no base tasks; build one with `tanas dictionary build`")
    if cfg.k > len(others):
        raise TanasError(f"k: {cfg.k} is larger than the dictionary ({len(others)} base tasks in {store.root}); "
                         f"use --k {len(others)} or fewer")
    missing = [t for t in others if not store.get(t).architecture]
    if missing:
        raise TanasError(f"dictionary {store.root}: {len(missing)} base task(s) have no architecture "
                         f"(e.g. {missing[0]}); run `tanas dictionary architectures <config.yml>` first")
    if progress:
        progress("space", {"message": f"distances ({cfg.method}) from {len(others)} base tasks to {cfg.target}"})
    log = (lambda m: progress("space", {"message": m})) if progress else (lambda m: None)
    return TaskAwareSpace.from_dictionary(cfg.target, store, method=cfg.method, k=cfg.k, tau=cfg.tau,
                                          data_dir=cfg.data_dir, seed=cfg.seed, log=log)


def search(data, space, fuse: FuseConfig | None = None, n_candidates: int | None = None, seed: int = 0,
           workdir: str | Path | None = None, progress: ProgressFn | None = None, logger: Any = False,
           candidates: list | None = None) -> SearchResult:
    """Run FUSE on ``data`` (train and validation splits only) over candidates drawn from ``space``.

    Parameters
    ----------
    data
        A :class:`~tanas_nni.data.TaskData`; its test split is not read.
    space
        A :class:`~tanas_nni.space.TaskAwareSpace`; ``space.candidates(n, seed)`` gives the pool (nearest tasks' own
        architectures first). Ignored when ``candidates`` is given.
    workdir
        FUSE's checkpoint directory; a rerun with the same directory resumes.
    """
    import nni.nas.strategy  # noqa: F401  (before nni.nas.oneshot, see DESIGN "NNI 3.0 facts")
    from nni.nas.experiment import NasExperiment, NasExperimentConfig

    from .space import whole_network_space
    from .strategy.fuse import FUSE, fuse_evaluator, pool_size

    fuse = fuse or FuseConfig()
    n = n_candidates or pool_size(fuse.candidates_per_round, fuse.rounds)
    if candidates is None:
        candidates = list(space.candidates(n, seed=seed))
    if not candidates:
        raise TanasError("candidates: the space produced no candidate architectures")
    if len(candidates) < 2:
        raise TanasError(f"candidates: the space produced {len(candidates)} candidate; FUSE needs at least 2")
    if workdir is not None:
        # Checkpoints resume only the same search: the same candidates, budget, seed and data. A search whose space
        # changed (another dictionary, other distances) starts afresh in its own folder instead of loading a mismatch.
        from .config import config_hash
        workdir = Path(workdir) / config_hash({"candidates": [a.key for a in candidates], "fuse": to_dict(fuse),
                                               "seed": seed, "data": getattr(data, "fingerprint", None)})
    model_space = whole_network_space(candidates, data.num_classes, data.input_shape)
    evaluator = fuse_evaluator(data.x["train"], data.y["train"], data.x["val"], data.y["val"], data.num_classes,
                               learning_rate=fuse.weight_lr, weight_decay=fuse.weight_decay,
                               batch_size=fuse.batch_size, seed=seed, logger=logger)

    def on_fuse(event: str, info: dict) -> None:
        if progress:
            progress("search", {"event": event, **info})

    strategy = FUSE(candidates_per_round=fuse.candidates_per_round, rounds=fuse.rounds, cycles=fuse.cycles,
                    weight_epochs=fuse.weight_epochs, alpha_epochs=fuse.alpha_epochs, alpha_lr=fuse.alpha_lr,
                    reset_weights=fuse.reset_weights, seed=seed, checkpoint_dir=workdir, on_progress=on_fuse,
                    task_name=str(getattr(data, "spec", "?")))
    start = time.perf_counter()
    config = NasExperimentConfig("sequential", "raw")
    if workdir is not None:  # NNI's own experiment records go next to the search, not to ~/nni-experiments
        config.experiment_working_directory = str(Path(workdir) / "nni")
    exp = NasExperiment(model_space, evaluator, strategy, config)
    exp.run()
    seconds = time.perf_counter() - start
    ranking = []
    for rank, row in enumerate(strategy.ranking(), 1):
        arch = candidates[int(row["choice"])]
        ranking.append({"rank": rank, "choice": int(row["choice"]), "key": arch.key, "architecture": str(arch),
                        "probability": row["probability"], "round": row["round"], "winner": row["winner"]})
    # The winner is what FUSE exports: the last round's argmax-α candidate (its incumbent), read directly because NNI's
    # export_top_models would rebuild every candidate network just to name it.
    layer = strategy.oneshot_module.mixed_layer()  # type: ignore[attr-defined]
    name = layer.names[strategy.oneshot_module.fuse_state["incumbent"]]  # type: ignore[attr-defined]
    winner = candidates[int(name)]
    net = layer[name]
    # After a short search the running statistics lag the weights: score the network, not its statistics.
    recalibrate_bn(net, data.x["train"], images=len(data.x["train"]), batch_size=fuse.batch_size)
    val_acc = evaluate(net, data.x["val"], data.y["val"])["acc"]
    describe = space.describe() if hasattr(space, "describe") else {}
    return SearchResult(winner=winner, ranking=ranking, trajectory=strategy.alpha_trajectory(),
                        candidates=candidates, space=describe, seconds=seconds, rounds_run=strategy.rounds_run,
                        winner_probability=ranking[0]["probability"], winner_val_acc=val_acc)


def dictionary_architectures(dict_cfg, force: bool = False, log: Callable[[str], None] | None = None,
                             on_progress: ProgressFn | None = None):
    """Give every base task of a dictionary the architecture FUSE finds for it on the standard space; resumable.

    Tasks whose entry has an architecture already are skipped (unless ``force``). Each winner is stored with
    ``store.update(task, architecture={"arch", "score", "space": "standard", "strategy": "fuse", "settings"})``.
    FUSE's checkpoints live in ``<dictionary>/cache/architecture-search/<task>/`` while a task runs, so an interrupted
    task resumes where it stopped.
    """
    from .data import SplitSizes, load_task
    from .dictionary import DictionaryStore
    from .space import TaskAwareSpace

    log = log or (lambda m: None)
    cfg: ArchitectureSearchConfig = dict_cfg.architecture_search
    seed = dict_cfg.seed if cfg.seed is None else cfg.seed
    if dict_cfg.threads:
        torch.set_num_threads(dict_cfg.threads)
    dict_cfg.register_datasets()
    store = DictionaryStore.open(dict_cfg.dictionary)
    store.check_writable()
    space = TaskAwareSpace.standard(cfg.space_file, seed=seed)
    task_ids = store.task_ids()
    if not task_ids:
        raise TanasError(f"dictionary {store.root}: no entries; run `tanas dictionary build` first")
    settings = {"train": cfg.train, "val": cfg.val, "seed": seed, "fuse": to_dict(cfg.fuse),
                "space_file": cfg.space_file or "search_spaces/standard.yml"}
    start = time.perf_counter()
    for i, task_id in enumerate(task_ids, 1):
        prefix = f"[{i}/{len(task_ids)}] {task_id}"
        entry = store.get(task_id)
        if entry.architecture and not force:
            log(f"{prefix}: has an architecture already ({entry.architecture.get('strategy', '?')})")
            continue
        t0 = time.perf_counter()
        data = load_task(task_id, dict_cfg.data_dir, seed=seed, sizes=SplitSizes(cfg.train, cfg.val, 2),
                         max_per_class=dict_cfg.max_per_class)
        workdir = Path(store.root) / "cache" / "architecture-search" / task_id.replace(":", "_")
        progress = (lambda stage, info, t=task_id: on_progress(stage, {"task": t, **info})) if on_progress else None
        # Each task draws its own candidate pool (and initial weights): one shared pool would give every base task one
        # of the same few architectures and leave task-aware spaces nothing to choose from.
        result = search(data, space, cfg.fuse, seed=derive_seed(seed, task_id), workdir=workdir, progress=progress)
        seconds = time.perf_counter() - t0
        arch = result.winner
        store.update(task_id, architecture={
            "arch": arch.to_dict(), "key": arch.key, "str": str(arch),
            "score": {"alpha": result.winner_probability, "search_val_acc": result.winner_val_acc,
                      "parameters": arch_parameters(arch, data), "search_seconds": seconds},
            "space": "standard", "strategy": "fuse",
            "settings": {**settings, "data_fingerprint": data.fingerprint},
            "ranking": [{k: r[k] for k in ("key", "architecture", "probability", "round")} for r in result.ranking],
        })
        shutil.rmtree(workdir, ignore_errors=True)
        log(f"{prefix}: {arch} (α {result.winner_probability:.2f}, search val acc {result.winner_val_acc:.2%}, "
            f"{seconds:.0f} s)")
    log(f"dictionary {store.root}: architectures done ({time.perf_counter() - start:.0f} s)")
    return store


def arch_parameters(arch, data) -> int:
    """Parameters of ``arch``'s network for ``data``'s inputs and classes."""
    from .space import build_model

    return count_parameters(build_model(arch, data.num_classes, data.input_shape))


def retrain(arch, data, recipe: TrainConfig, seed: int = 0, progress: ProgressFn | None = None) -> tuple[Any, dict]:
    """Train ``arch`` from scratch with the shared recipe and evaluate it once on the test split."""
    from .space import build_model

    model = build_model(arch, data.num_classes, data.input_shape)

    def on_epoch(epoch: int, row: dict) -> None:
        if progress:
            progress("retrain", {"epoch": epoch, "epochs": recipe.epochs, **row})

    result = fit(model, data, recipe, seed=seed, stage="retrain", on_epoch=on_epoch,
                 evaluate_test=True)
    return model, result


def _write_csv(path: Path, rows: list[dict]) -> None:
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def run_pipeline(cfg: SearchConfig, on_progress: ProgressFn | None = None, store=None, data=None) -> dict:
    """Space → FUSE → retrain → test once → export folder. Returns the metrics dict (also in ``metrics.json``).

    ``store`` and ``data`` (the target's splits) are loaded from ``cfg`` unless given; given data must be
    ``cfg.target``'s.
    """
    from .data import SplitSizes, TaskSpec, load_task
    from .dictionary import DictionaryStore
    from .space import Architecture

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    progress = on_progress or (lambda stage, info: None)
    out = Path(cfg.out or f"runs/search/{cfg.target.replace(':', '_')}-{cfg.space}-{cfg.strategy}-s{cfg.seed}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))

    if cfg.space == "task-aware":
        store = store or DictionaryStore.open(cfg.dictionary)
    if data is None:
        data = load_task(cfg.target, cfg.data_dir, seed=cfg.seed,
                         sizes=SplitSizes(cfg.samples.train, cfg.samples.val, cfg.samples.test))
    elif TaskSpec.parse(cfg.target) != data.spec:
        raise TanasError(f"target: the data given are {data.spec}'s, not {cfg.target}'s")
    t0 = time.perf_counter()
    space = build_space(cfg, store, progress)
    space_seconds = time.perf_counter() - t0
    progress("space", {"message": f"space ready ({space_seconds:.1f} s)", "seconds": space_seconds})
    logger = _csv_logger(out)
    result = search(data, space, cfg.fuse, cfg.pool(), cfg.seed, workdir=out / "search", progress=progress,
                    logger=logger)
    search_seconds = space_seconds + result.seconds
    progress("search", {"event": "done", "winner": str(result.winner), "seconds": search_seconds})

    model, fit_result = retrain(result.winner, data, cfg.retrain, seed=cfg.seed, progress=progress)
    arch: Architecture = result.winner
    params = count_parameters(model)
    metrics = {
        "target": str(data.spec), "space": cfg.space, "strategy": cfg.strategy, "seed": cfg.seed,
        "test_error": 1.0 - fit_result["test_acc"], "test_acc": fit_result["test_acc"],
        "val_acc": fit_result["val_acc"], "train_acc": fit_result["train_acc"], "best_epoch": fit_result["best_epoch"],
        "parameters": params, "parameters_m": params / 1e6,
        "search_seconds": search_seconds, "space_seconds": space_seconds, "fuse_seconds": result.seconds,
        "retrain_seconds": fit_result["seconds"], "device": device_description(),
        "data_fingerprint": data.fingerprint, "split_sizes": data.sizes(), "rounds_run": result.rounds_run,
        "candidates": len(result.candidates), "winner_key": arch.key,
        "versions": library_versions(),
    }
    atomic_write_json(out / "architecture.json", {"arch": arch.to_dict(), "key": arch.key, "str": str(arch),
                                             "num_classes": data.num_classes,
                                             "input_shape": list(data.input_shape)})
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, out / "weights.pt")
    _write_csv(out / "ranking.csv", result.ranking)
    _write_csv(out / "alpha_trajectory.csv", result.trajectory)
    atomic_write_json(out / "space.json", {"space": result.space, "candidates": [a.to_dict() for a in result.candidates]})
    atomic_write_json(out / "history.json", fit_result["history"])
    atomic_write_json(out / "metrics.json", metrics)
    progress("done", {**{k: metrics[k] for k in ("test_error", "parameters", "search_seconds", "retrain_seconds")},
                      "out": str(out)})
    return {**metrics, "out": str(out)}


def _csv_logger(out: Path):
    try:
        from pytorch_lightning.loggers import CSVLogger
    except ImportError:  # pragma: no cover
        return False
    return CSVLogger(str(out), name="lightning_logs", version="search")


def load_exported(folder: str | Path, map_location: str | torch.device = "cpu") -> torch.nn.Module:
    """Rebuild the trained network from an export folder written by :func:`run_pipeline` (eval mode)."""
    from .space import Architecture, build_model

    folder = Path(folder)
    arch_file, weights = folder / "architecture.json", folder / "weights.pt"
    for f in (arch_file, weights):
        if not f.is_file():
            raise TanasError(f"{f}: not found; is {folder} an export folder of `tanas search`?")
    try:
        meta = json.loads(arch_file.read_text())
    except ValueError as e:
        raise TanasError(f"{arch_file}: not valid JSON ({e})") from None
    arch = Architecture.from_dict(meta.get("arch"), f"{arch_file}: arch")
    model = build_model(arch, int(meta["num_classes"]), tuple(meta["input_shape"]))
    model.load_state_dict(torch.load(weights, map_location=map_location, weights_only=True))
    model.eval()
    return model

