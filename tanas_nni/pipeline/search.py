"""The search pipeline: space → strategy (FUSE) → retrain → export.

:func:`search` finds an architecture for a target task (a registered whole-network strategy over the task-aware or the
standard space, on the train and validation splits only); :func:`retrain` trains it from scratch with the shared recipe
:func:`tanas_nni.training.fit` and evaluates it once on the test split; :func:`run_pipeline` does both and writes the
export folder (:mod:`.export`) that :func:`~tanas_nni.pipeline.load_exported` turns back into the trained network.
``tanas search`` and the nnictl trials call these functions; ``progress`` receives :mod:`tanas_nni.core.progress`
events.
"""
from __future__ import annotations

import dataclasses
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nni.nas.strategy  # noqa: F401  (before anything of nni.nas.oneshot: docs/nni.md, "import order")
import torch
from nni.nas.experiment import NasExperimentConfig
from pytorch_lightning.loggers import CSVLogger

from ..core.config import config_hash, to_dict
from ..core.errors import TanasError
from ..core.progress import Epoch, Finished, Message, ProgressFn, SearchDone
from ..core.records import atomic_write_json, library_versions
from ..data import TaskData, canonical_task_id, load_task, task_folder
from ..dictionary import DictionaryStore
from ..space import Architecture, build_model, fit_pool_to_budget, grow_to_budget, parameter_count, whole_network_space
from ..strategy import FuseConfig, fuse_evaluator, get_strategy, nas_experiment
from ..training import TrainConfig, count_parameters, evaluate, fit, recalibrate_bn, seeded_init
from .config import SearchConfig
from .export import PipelineResult, write_export
from .space import build_space

__all__ = ["SearchResult", "search", "retrain", "finalists", "retrain_finalists", "run_pipeline", "device_description",
           "default_out"]


@dataclass
class SearchResult:
    """What the search decided (before retraining). ``winner_val_acc``: the winner's validation accuracy with the
    weights it got during the search (a cheap score, no retraining)."""

    winner: Architecture
    ranking: list[dict]  # {"rank", "choice", "architecture", "key", "probability", "round", "winner"}
    trajectory: list[dict]
    candidates: list  # the pool, in the order FUSE met them
    space: dict  # describe() of the space
    seconds: float
    rounds_run: int
    winner_probability: float = float("nan")
    winner_val_acc: float = float("nan")
    parameters: list = dataclasses.field(default_factory=list)  # each candidate's parameter count, in pool order


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


def _read_seconds(path: Path | None) -> float:
    """The seconds earlier runs of a search spent (0 for a new one, or when the file is unreadable)."""
    if path is None or not path.is_file():
        return 0.0
    try:
        return float(json.loads(path.read_text())["seconds"])
    except (ValueError, KeyError, TypeError, OSError):
        return 0.0


def search(data: TaskData, space, fuse: FuseConfig | None = None, n_candidates: int | None = None, seed: int = 0,
           workdir: str | Path | None = None, progress: ProgressFn | None = None, logger: Any = False,
           candidates: list | None = None, strategy: str = "fuse", max_params: int | None = None) -> SearchResult:
    """Run ``strategy`` (FUSE) on ``data`` (train and validation splits only) over candidates drawn from ``space``.

    Parameters
    ----------
    data
        A :class:`~tanas_nni.data.TaskData`; its test split is not read.
    space
        A :class:`~tanas_nni.space.TaskAwareSpace`; ``space.candidates(n, seed)`` gives the pool (nearest tasks' own
        architectures first). Ignored when ``candidates`` is given.
    max_params
        A parameter budget: every candidate is scaled down to it (:func:`tanas_nni.space.fit_to_budget`), so the
        winner respects it; a one-line error when none can fit.
    workdir
        The strategy's checkpoint directory; a rerun with the same directory resumes.
    """
    fuse = fuse or FuseConfig()
    n = n_candidates or fuse.pool()
    if candidates is None:
        candidates = list(space.candidates(n, seed=seed))
        if max_params is not None:
            fitted = fit_pool_to_budget(candidates, max_params, data.num_classes, data.input_shape)
            if len(fitted) < n:  # some scaled onto one another: draw more, still nearest tasks' own first
                fitted = fit_pool_to_budget(list(space.candidates(3 * n, seed=seed)), max_params, data.num_classes,
                                            data.input_shape)
            candidates = fitted[:n]
    elif max_params is not None:
        candidates = fit_pool_to_budget(list(candidates), max_params, data.num_classes, data.input_shape)
    if not candidates:
        raise TanasError("candidates: the space produced no candidate architectures")
    if len(candidates) < 2:
        raise TanasError(f"candidates: the space produced {len(candidates)} candidate; FUSE needs at least 2")
    if workdir is not None:
        # Checkpoints resume only the same search: the same candidates, budget, seed and data. A search whose space
        # changed (another dictionary, other distances) starts afresh in its own folder instead of loading a mismatch.
        workdir = Path(workdir) / config_hash({"candidates": [a.key for a in candidates], "fuse": to_dict(fuse),
                                               "seed": seed, "data": getattr(data, "fingerprint", None)})
    model_space = whole_network_space(candidates, data.num_classes, data.input_shape)
    evaluator = fuse_evaluator(data.x["train"], data.y["train"], data.x["val"], data.y["val"], data.num_classes,
                               learning_rate=fuse.weight_lr, weight_decay=fuse.weight_decay,
                               batch_size=fuse.batch_size, seed=seed, logger=logger)
    strat = get_strategy(strategy).from_config(fuse, seed=seed, checkpoint_dir=workdir, on_progress=progress,
                                               task_name=str(getattr(data, "spec", "?")))
    config = NasExperimentConfig("sequential", "raw")
    if workdir is not None:  # NNI's own experiment records go next to the search, not to ~/nni-experiments
        config.experiment_working_directory = str(Path(workdir) / "nni")
    # A resumed search reports the compute of all its runs: the checkpoints carry the work, this file its seconds
    # (written however the run ends), so a search resumed after it finished does not look free.
    spent = Path(workdir) / "seconds.json" if workdir is not None else None
    earlier = _read_seconds(spent)
    start = time.perf_counter()
    try:
        with nas_experiment(model_space, evaluator, strat, config) as exp:
            exp.run()
    finally:
        seconds = earlier + time.perf_counter() - start
        if spent is not None:
            spent.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(spent, {"seconds": seconds})
    parameters = [parameter_count(a, data.num_classes, data.input_shape) for a in candidates]
    ranking = []
    for rank, row in enumerate(strat.ranking(), 1):
        arch = candidates[int(row["choice"])]
        ranking.append({"rank": rank, "choice": int(row["choice"]), "key": arch.key, "architecture": str(arch),
                        "probability": row["probability"], "round": row["round"], "winner": row["winner"],
                        "parameters": parameters[int(row["choice"])]})
    # The winner is what the strategy exports (FUSE: the last round's argmax-α candidate), read through its incumbent
    # because NNI's export_top_models would rebuild every candidate network just to name it.
    choice, net = strat.incumbent()
    winner = candidates[int(choice)]
    # After a short search the running statistics lag the weights: score the network, not its statistics.
    recalibrate_bn(net, data.x["train"], images=len(data.x["train"]), batch_size=fuse.batch_size)
    val_acc = evaluate(net, data.x["val"], data.y["val"])["acc"]
    describe = space.describe() if hasattr(space, "describe") else {}
    return SearchResult(winner=winner, ranking=ranking, trajectory=strat.alpha_trajectory(),
                        candidates=candidates, parameters=parameters, space=describe, seconds=seconds, rounds_run=strat.rounds_run,
                        winner_probability=ranking[0]["probability"], winner_val_acc=val_acc)


def retrain(arch: Architecture, data: TaskData, recipe: TrainConfig, seed: int = 0,
            progress: ProgressFn | None = None, evaluate_test: bool = True,
            stage: str = "retrain") -> tuple[torch.nn.Module, dict]:
    """Train ``arch`` from scratch with the shared recipe and evaluate it once on the test split (unless
    ``evaluate_test`` is False: :func:`retrain_finalists` tests only the finalist it keeps).

    Its initial weights depend on ``seed`` alone (not on what the search left in torch's generator, nor on whether the
    search was resumed)."""
    with seeded_init(seed):
        model = build_model(arch, data.num_classes, data.input_shape)

    def on_epoch(epoch: int, row: dict) -> None:
        if progress:
            progress(Epoch("retrain", epoch=epoch, epochs=recipe.epochs, train_loss=row.get("train_loss"),
                           val_acc=row.get("val_acc")))

    result = fit(model, data, recipe, seed=seed, stage=stage, on_epoch=on_epoch, evaluate_test=evaluate_test)
    return model, result


def finalists(ranking: list[dict], candidates: list[Architecture], top: int) -> list[Architecture]:
    """The strategy's ``top`` best candidates, best first (its ranking; the winner first)."""
    if top > len(ranking):
        raise TanasError(f"retrain_top: {top} is more than the {len(ranking)} candidates the search ranked; "
                         f"give at most {len(ranking)}")
    rows = sorted(ranking, key=lambda r: r["rank"])[:top]
    return [candidates[int(r["choice"])] for r in rows]


def grown_finalists(archs: list[Architecture], max_params: int, data: TaskData
                    ) -> list[tuple[Architecture, list[Architecture]]]:
    """Each finalist with its network scaled up to spend ``max_params`` (:func:`tanas_nni.space.grow_to_budget`), as
    ``(grown, searched)`` pairs in the strategy's order. Finalists that grow into one network (two skeletons of one
    cell can) are trained once: ``searched`` lists them all, best first."""
    out: dict[str, tuple[Architecture, list[Architecture]]] = {}
    for arch in archs:
        grown = grow_to_budget(arch, max_params, data.num_classes, data.input_shape)
        if grown is None:  # the search's candidates were fitted to the budget, so only a caller's own pool gets here
            raise TanasError(f"fill_budget: the finalist {arch} has more than max_params={max_params} parameters")
        out.setdefault(grown.key, (grown, []))[1].append(arch)
    return list(out.values())


def retrain_finalists(archs: list[Architecture], data: TaskData, recipe: TrainConfig, seed: int = 0,
                      progress: ProgressFn | None = None, evaluate_test: bool = True, stage: str = "retrain"
                      ) -> tuple[Architecture, torch.nn.Module, dict, list[dict]]:
    """Train every finalist from scratch with the recipe, keep the one with the best validation accuracy (ties: the
    strategy's order) and test that one once (not at all when ``evaluate_test`` is False: the dictionary's
    architecture search, :func:`tanas_nni.pipeline.select_architecture`, never reads a test split).

    Why: a one-shot search ranks its candidates after a fraction of their training, and one retraining of one
    network is itself noisy (its initialisation and data order); so the strategy's best few are trained in full and
    chosen on validation, as the dictionary's architecture search does (``retrain_top``). The test split decides
    nothing: only the kept network is tested. Every finalist trains with the same ``seed``, so with one finalist this
    is :func:`retrain`.

    Returns the kept architecture, its network, its :func:`~tanas_nni.training.fit` result (with ``test_acc`` when
    ``evaluate_test``) and one row per finalist (``rank``, ``key``, ``architecture``, ``val_acc``, ``seconds``, ``kept``).
    """
    if not archs:
        raise TanasError("retrain_top: no finalist to retrain")
    best = None
    rows = []
    for rank, arch in enumerate(archs, 1):
        if len(archs) > 1 and progress:
            progress(Message("retrain", text=f"finalist {rank}/{len(archs)}: {arch}"))
        model, result = retrain(arch, data, recipe, seed=seed, progress=progress, evaluate_test=False, stage=stage)
        rows.append({"rank": rank, "key": arch.key, "architecture": str(arch), "val_acc": result["val_acc"],
                     "seconds": result["seconds"], "kept": False})
        if best is None or result["val_acc"] > best[2]["val_acc"]:
            best = (arch, model, result, rows[-1])
    arch, model, result, row = best
    row["kept"] = True
    if evaluate_test:
        result["test_acc"] = evaluate(model, data.x["test"], data.y["test"])["acc"]
    return arch, model, result, rows


def default_out(cfg: SearchConfig) -> Path:
    """``runs/search/<target folder>-<space>-<strategy>-s<seed>``: the export folder when ``out`` is not given."""
    return Path("runs/search") / f"{task_folder(cfg.target)}-{cfg.space}-{cfg.strategy}-s{cfg.seed}"


def _csv_logger(out: Path) -> CSVLogger:
    return CSVLogger(str(out), name="lightning_logs", version="search")


def run_pipeline(cfg: SearchConfig, progress: ProgressFn | None = None, store: DictionaryStore | None = None,
                 data: TaskData | None = None) -> PipelineResult:
    """Space → search → retrain → test once → export folder (``cfg.out``, else :func:`default_out`).

    ``store`` and ``data`` (the target's splits) are loaded from ``cfg`` unless given; given data must be
    ``cfg.target``'s. The metrics are also written to ``metrics.json``.
    """
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    progress = progress or (lambda event: None)
    if cfg.space == "task-aware":
        store = store or DictionaryStore.open(cfg.dictionary)
    if data is None:
        data = load_task(cfg.target, cfg.data_dir, seed=cfg.seed, sizes=cfg.samples)
    elif canonical_task_id(cfg.target) != str(data.spec):
        raise TanasError(f"target: the data given are {data.spec}'s, not {cfg.target}'s")
    # From here on the target is named as its data name it (a class given by index becomes its name).
    cfg = dataclasses.replace(cfg, target=str(data.spec))
    t0 = time.perf_counter()
    space = build_space(cfg, store, progress)
    space_seconds = time.perf_counter() - t0
    progress(Message("space", text=f"space ready ({space_seconds:.1f} s)"))
    out = Path(cfg.out) if cfg.out else default_out(cfg)
    out.mkdir(parents=True, exist_ok=True)
    result = search(data, space, cfg.fuse, cfg.pool(), cfg.seed, workdir=out / "search", progress=progress,
                    logger=_csv_logger(out), strategy=cfg.strategy, max_params=cfg.max_params)
    search_seconds = space_seconds + result.seconds
    progress(SearchDone("search", winner=str(result.winner), seconds=search_seconds))

    # (network to retrain, the searched networks it stands for): itself, or with fill_budget its grown form
    archs = finalists(result.ranking, result.candidates, cfg.retrain_top)
    pairs = grown_finalists(archs, cfg.max_params, data) if cfg.fill_budget else [(a, [a]) for a in archs]
    for grown, group in pairs:
        if group != [grown]:
            progress(Message("retrain", text=f"scaled up to the budget: {', '.join(map(str, group))} -> {grown}"))
    arch, model, fit_result, finalist_rows = retrain_finalists([g for g, _ in pairs], data, cfg.retrain,
                                                               seed=cfg.seed, progress=progress)
    for row, (_, group) in zip(finalist_rows, pairs):  # what the search compared, before any scaling up
        row["searched"] = str(group[0])
        if len(group) > 1:  # finalists that grew into one network, trained once
            row["also_searched"] = [str(a) for a in group[1:]]
    # The finalists' trainings but the kept one's are part of the search: they decided, and only the kept network is
    # the retrained result.
    finalist_seconds = sum(r["seconds"] for r in finalist_rows if not r["kept"])
    search_seconds += finalist_seconds
    params = count_parameters(model)
    metrics = {
        "target": str(data.spec), "space": cfg.space, "strategy": cfg.strategy, "seed": cfg.seed,
        "test_error": 1.0 - fit_result["test_acc"], "test_acc": fit_result["test_acc"],
        "val_acc": fit_result["val_acc"], "train_acc": fit_result["train_acc"], "best_epoch": fit_result["best_epoch"],
        "parameters": params, "parameters_m": params / 1e6, "max_params": cfg.max_params,
        "search_seconds": search_seconds, "space_seconds": space_seconds, "fuse_seconds": result.seconds,
        "finalist_seconds": finalist_seconds,
        "retrain_seconds": fit_result["seconds"], "device": device_description(),
        "data_fingerprint": data.fingerprint, "split_sizes": data.sizes(), "rounds_run": result.rounds_run,
        "candidates": len(result.candidates), "winner_key": arch.key, "architecture": str(arch),
        "retrain_top": cfg.retrain_top, "fill_budget": cfg.fill_budget, "strategy_winner": str(result.winner),
        "strategy_winner_key": result.winner.key, "finalists": finalist_rows,
        "neighbours": [{"task": t, "distance": d, "weight": w} for t, d, w in getattr(space, "neighbours", [])],
        "versions": library_versions(),
    }
    exported = PipelineResult(metrics=metrics, architecture=arch, out=out, history=fit_result["history"],
                              ranking=result.ranking, model=model)
    write_export(out, exported, cfg, result, data)
    progress(Finished("done", test_error=metrics["test_error"], parameters=params, search_seconds=search_seconds,
                      retrain_seconds=fit_result["seconds"], out=str(out)))
    return exported
