"""The export folder of a pipeline run, written and read in one place.

Export folder (``out``)::

    architecture.json    the winner: {"arch", "key", "str", "num_classes", "input_shape"}
    weights.pt           its retrained state_dict
    metrics.json         test error, parameters, search/retrain seconds, device, data fingerprint, ...
    config.yml           the resolved SearchConfig
    ranking.csv          every candidate FUSE compared, best first, with its α probability (FUSE's verdict; with
                         retrain_top > 1, metrics.json's "finalists" says which of its best was kept)
    alpha_trajectory.csv softmax(α) after every phase-epoch
    space.json           the space searched (neighbours, priors) and the candidate pool
    history.json         the retraining's per-epoch history
    search/              FUSE's Lightning checkpoints (rerunning the same command resumes the search from them)
    lightning_logs/      the search's Lightning CSV log
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from ..core.config import to_dict
from ..core.errors import TanasError
from ..core.records import atomic_write_json, atomic_write_text
from ..space import Architecture, build_model

__all__ = ["PipelineResult", "write_export", "write_config", "load_exported", "read_architecture"]


@dataclass
class PipelineResult:
    """What :func:`tanas_nni.pipeline.run_pipeline` returns (and writes to ``out``)."""

    metrics: dict  # what metrics.json holds
    architecture: Architecture
    out: Path
    history: list = field(default_factory=list)  # the retraining's per-epoch rows
    ranking: list = field(default_factory=list)  # every candidate compared, best first
    model: Any = None  # the retrained network

    def __getitem__(self, key: str) -> Any:  # metrics read like the dict this used to be
        return self.metrics[key]

    @property
    def test_error(self) -> float:
        return self.metrics["test_error"]


def _write_csv(path: Path, rows: list[dict]) -> None:
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def write_config(out: Path, cfg: Any) -> None:
    atomic_write_text(out / "config.yml", yaml.safe_dump(to_dict(cfg), sort_keys=False))


def write_export(out: Path, result: PipelineResult, cfg: Any, search_result: Any, data: Any) -> None:
    """Every file of the export folder but the search's own checkpoints and logs."""
    arch = result.architecture
    write_config(out, cfg)
    atomic_write_json(out / "architecture.json", {"arch": arch.to_dict(), "key": arch.key, "str": str(arch),
                                                  "num_classes": data.num_classes,
                                                  "input_shape": list(data.input_shape)})
    torch.save({k: v.detach().cpu() for k, v in result.model.state_dict().items()}, out / "weights.pt")
    _write_csv(out / "ranking.csv", search_result.ranking)
    _write_csv(out / "alpha_trajectory.csv", search_result.trajectory)
    atomic_write_json(out / "space.json", {"space": search_result.space,
                                           "candidates": [a.to_dict() for a in search_result.candidates],
                                           "parameters": list(getattr(search_result, "parameters", []))})
    atomic_write_json(out / "history.json", result.history)
    atomic_write_json(out / "metrics.json", result.metrics)


def read_architecture(folder: str | Path) -> tuple[Architecture, dict]:
    """The winner's architecture of an export folder, with the rest of ``architecture.json``."""
    arch_file = Path(folder) / "architecture.json"
    if not arch_file.is_file():
        raise TanasError(f"{arch_file}: not found; is {folder} an export folder of `tanas search`?")
    try:
        meta = json.loads(arch_file.read_text())
    except ValueError as e:
        raise TanasError(f"{arch_file}: not valid JSON ({e})") from None
    return Architecture.from_dict(meta.get("arch"), f"{arch_file}: arch"), meta


def load_exported(folder: str | Path, map_location: str | torch.device = "cpu") -> torch.nn.Module:
    """Rebuild the trained network from an export folder written by :func:`run_pipeline` (eval mode)."""
    folder = Path(folder)
    weights = folder / "weights.pt"
    arch, meta = read_architecture(folder)
    if not weights.is_file():
        raise TanasError(f"{weights}: not found; is {folder} an export folder of `tanas search`?")
    model = build_model(arch, int(meta["num_classes"]), tuple(meta["input_shape"]))
    model.load_state_dict(torch.load(weights, map_location=map_location, weights_only=True))
    model.eval()
    return model
