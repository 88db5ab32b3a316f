"""NNI trials: each runs one unit of the pipeline in-process and reports to NNI.

``nnictl create`` cannot start NNI's ``nas`` experiment type, so the experiments in ``experiments/`` are HPO-style: the
search space enumerates units of work (a base task, a distance source, a method to compare), a tuner (GridSearch) hands one
to each trial, and the trial runs this module::

    python3 -m tanas_nni.experiment.trial <stage> --config <stage config.yml>

The trial reads its parameters with ``nni.get_next_parameter()``, reports per-epoch intermediate results and a final
dict (``default`` is what NNI's tuner and web UI rank by). Outside NNI the same command runs standalone with the
parameters given as ``--param key=value``.

A stage that runs an inner ``NasExperiment`` (FUSE, DARTS) would have NNI's default trial command channel swapped under
it; :class:`Reporter` keeps the outer trial's channel and parameter id from the start, so metrics always reach the
outer trial.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from ..core.config import load_yaml
from ..distance.base import DistanceConfig
from ..core.errors import EXIT_USAGE, TanasError
from ..core.progress import Epoch, Event, Message, PhaseEnd

__all__ = ["Reporter", "STAGES", "register_stage", "main"]

STAGES: dict[str, Callable[["Reporter", argparse.Namespace, dict], dict]] = {}


def register_stage(name: str):
    """Register ``fn(reporter, args, params) -> final metrics dict`` as trial stage ``name``."""
    def deco(fn):
        STAGES[name] = fn
        return fn
    return deco


def _clean(value: Any) -> Any:
    """NNI metrics must be JSON: turn numpy scalars and non-finite floats into plain values."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Reporter:
    """Talks to the NNI trial that started this process, even after an inner experiment replaced NNI's channel."""

    def __init__(self):
        import nni
        from nni.runtime.env_vars import trial_env_vars
        from nni.runtime.trial_command_channel import get_default_trial_command_channel

        self._channel = get_default_trial_command_channel()
        self.params: dict = nni.get_next_parameter() or {}
        self._record = nni.trial._params  # the outer trial's parameter record (None when standalone)
        self._trial_id = trial_env_vars.NNI_TRIAL_JOB_ID
        self._seq = 0
        self.under_nni = trial_env_vars.NNI_PLATFORM not in (None, "unittest")

    def _send(self, kind: str, metric: Any, sequence: int) -> None:
        self._channel.send_metric(parameter_id=self._record["parameter_id"] if self._record else None,
                                  trial_job_id=self._trial_id, type=kind, sequence=sequence, value=_clean(metric))

    def intermediate(self, metric: float | dict) -> None:
        """One point of the trial's curve in the web UI (``metric['default']`` is plotted)."""
        self._send("PERIODICAL", metric, self._seq)
        self._seq += 1

    def final(self, metric: float | dict) -> None:
        self._send("FINAL", metric, 0)

    def log(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)


@register_stage("dictionary")
def _dictionary_stage(reporter: Reporter, args, params: dict) -> dict:
    """Build (or reuse) the dictionary entry of one base task: parameter ``task``."""
    from ..data import TaskSpec
    from ..dictionary import CorruptEntryError, DictionaryStore, build_entry
    from ..pipeline import load_dictionary_config

    if "task" not in params:
        raise TanasError("the dictionary trial needs a 'task' parameter (a task id) from the search space")
    cfg = load_dictionary_config(args.config, {"dictionary": args.dictionary, "data_dir": args.data_dir})
    if cfg.threads:
        import torch
        torch.set_num_threads(cfg.threads)
    cfg.register_datasets()
    task_id = str(TaskSpec.parse(params["task"]))
    store = DictionaryStore.open(cfg.dictionary, create=True)
    try:
        entry = store.get(task_id)
        reporter.log(f"{task_id}: finished already in {store.root}; reusing it")
    except CorruptEntryError as e:
        reporter.log(f"warning: {e}; rebuilding it")
        entry = None
    except TanasError:
        entry = None
    if entry is None:
        entry = build_entry(store, task_id, cfg, on_epoch=lambda ep, row: reporter.intermediate(
            {"default": row["val_acc"], "val_acc": row["val_acc"], "train_loss": row["train_loss"], "epoch": ep}))
    m = entry.metrics
    return {"default": m["test_acc"], "test_acc": m["test_acc"], "val_acc": m["val_acc"], "task": task_id,
            "seconds": m["seconds"], "data_fingerprint": entry.meta["data_fingerprint"]}


def _parse_params(pairs: list[str]) -> dict:
    out = {}
    for p in pairs:
        key, sep, value = p.partition("=")
        if not sep:
            raise TanasError(f"--param {p!r}: expected key=value")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


@dataclass
class DistanceTrialConfig:
    """The distance trial's config file (``configs/distance.yml``): the dictionary, the data and the distance."""

    dictionary: str = "runs/dictionary"
    data_dir: Optional[str] = None
    distance: DistanceConfig = field(default_factory=DistanceConfig)


@register_stage("distance")
def _distance_stage(reporter: Reporter, args, params: dict) -> dict:
    """Distances from every dictionary entry to one target (a column of the matrix): parameters ``target`` and
    optionally ``method``. The column is cached in the dictionary, so ``tanas distance-matrix`` gathers the trials'
    work into the matrix report at once, and a rerun reuses finished columns."""
    from ..core.config import from_dict
    from ..dictionary import DictionaryStore
    from ..distance import distances_to

    if "target" not in params:
        raise TanasError("the distance trial needs a 'target' parameter (a task id) from the search space")
    path = Path(args.config)
    cfg = from_dict(DistanceTrialConfig, load_yaml(path), where=str(path))
    dist = cfg.distance
    method = params.get("method", dist.method)
    settings = dist.settings if method == dist.method else {}

    def resolve(value: str | None) -> str | None:  # relative to the config file, as in every tanas config
        return str((path.parent / value).resolve()) if value and not Path(value).is_absolute() else value

    store = DictionaryStore.open(args.dictionary or resolve(cfg.dictionary))
    rows = distances_to(str(params["target"]), store, method, args.data_dir or resolve(cfg.data_dir),
                        dist.seed, log=reporter.log, **settings)
    for source, d in rows:
        reporter.intermediate({"default": d, "source": source})
    nearest = next(((s, d) for s, d in rows if s != params["target"]), rows[0])
    return {"default": nearest[1], "target": str(params["target"]), "method": method, "nearest": nearest[0],
            "distances": dict(rows)}


@register_stage("pipeline")
def _pipeline_stage(reporter: Reporter, args, params: dict) -> dict:
    """The whole TA-NAS run for one target: dictionary (built if missing, with architectures), distances, task-aware
    space, FUSE, retraining. ``--config`` is a search config; parameters (``target``, ``space``, ``method``, ``k``,
    ``seed``) override it. ``--dictionary-config`` says how to build the dictionary when it is missing."""
    from ..dictionary import DictionaryStore, build_dictionary
    from ..pipeline import dictionary_architectures, default_out, load_dictionary_config, load_search_config, run_pipeline

    keys = ("target", "space", "method", "k", "seed")
    cfg = load_search_config(args.config, {**{k: params.get(k) for k in keys},
                                           "dictionary": args.dictionary, "data_dir": args.data_dir})
    if cfg.space == "task-aware":
        # Build what the dictionary lacks (both steps skip finished work, so concurrent trials only wait on a lock).
        dict_cfg = load_dictionary_config(args.dictionary_config,
                                          {"dictionary": cfg.dictionary, "data_dir": cfg.data_dir})
        with DictionaryStore.open(cfg.dictionary, create=True).lock("pipeline-build"):
            build_dictionary(dict_cfg, log=reporter.log)
            dictionary_architectures(dict_cfg, log=reporter.log)

    def on_progress(event: Event) -> None:
        if isinstance(event, Epoch) and event.val_acc is not None:
            reporter.intermediate({"default": event.val_acc, "stage": "retrain", "epoch": event.epoch})
        elif isinstance(event, PhaseEnd):
            reporter.intermediate({"default": event.max_probability, "stage": "search", "round": event.round,
                                   "phase": event.phase, **event.probabilities})
        elif isinstance(event, Message):
            reporter.log(f"{event.stage}: {event.text}")

    # Each target's export in a folder of its own, named like `tanas search`'s default, under the config's `out` (else
    # runs/search): trials of several targets never share one, and a rerun of a stopped experiment resumes from it.
    cfg.out = str(Path(cfg.out or "runs/search") / default_out(cfg).name)
    result = run_pipeline(cfg, progress=on_progress)
    metrics = result.metrics
    arch = metrics["architecture"]
    return {"default": metrics["test_error"] * 100, "test_error_pct": metrics["test_error"] * 100,
            "params_m": metrics["parameters_m"], "search_seconds": metrics["search_seconds"],
            "retrain_seconds": metrics["retrain_seconds"], "device": metrics["device"], "architecture": arch,
            "target": metrics["target"], "space": cfg.space, "out": str(result.out)}


# Defined with the comparison it runs (compare.py); registered here, once register_stage exists, with the other stages.
from .compare import compare_stage  # noqa: E402

register_stage("compare")(compare_stage)


def main(argv: list[str] | None = None) -> int:
    import warnings
    warnings.filterwarnings("ignore", message=".*is found to be not a nn.Module.*")
    parser = argparse.ArgumentParser(prog="python -m tanas_nni.experiment.trial",
                                     description="Run one unit of the tanas pipeline as an NNI trial.")
    parser.add_argument("stage", choices=sorted(STAGES))
    parser.add_argument("--config", required=True, help="the stage's config YAML")
    parser.add_argument("--dictionary", default=None, help="override the config's dictionary directory")
    parser.add_argument("--data-dir", default=None, help="override the config's data root")
    parser.add_argument("--dictionary-config", default="configs/dictionary.yml",
                        help="pipeline stage: how to build the dictionary when it is missing")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="parameters when run outside NNI (NNI's own parameters take precedence)")
    args = parser.parse_args(argv)
    reporter = None
    try:
        reporter = Reporter()
        params = {**_parse_params(args.param), **reporter.params}
        final = STAGES[args.stage](reporter, args, params)
        reporter.final(final)
        reporter.log(f"final result: {json.dumps(_clean(final), sort_keys=True)}")
        return 0
    except TanasError as e:
        # The trial shows as FAILED in NNI, with this line in its stderr log; the experiment goes on with other trials.
        print(f"tanas: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except Exception:
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main())
