"""One registration makes a comparison method: its budget section, settings, `tanas compare --list`, the CLI, a YAML
config, the nnictl trial stage and `tanas report` all read it. Also: the compare config's distance, target and paths."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from tanas_nni.cli import main as tanas
from tanas_nni.core.config import check_range
from tanas_nni.core.errors import TanasError
from tanas_nni.core.progress import Epoch, Message, PhaseEnd, Step
from tanas_nni.distance import distance_names
from tanas_nni.experiment import compare
from tanas_nni.experiment.compare import (Outcome, SearchEpoch, load_compare_config, register_method,
                                          unregister_method)
from tanas_nni.experiment.stages import _search_metrics
from tanas_nni.experiment.trial import main as trial
from tanas_nni.training import TrainConfig, count_parameters, fit

TARGET = "mnist:2-vs-rest"


@dataclass
class ToyBudget:
    epochs: int = 1
    width: int = 4

    def __post_init__(self):
        check_range("epochs", self.epochs, 1)
        check_range("width", self.width, 1)


def toy(ctx) -> Outcome:
    """A tiny handcrafted-like network: one convolution, global pooling, a linear head."""
    b = ctx.method_budget
    torch.manual_seed(ctx.cfg.seed)
    model = nn.Sequential(nn.Conv2d(ctx.data.input_shape[0], b.width, 3, padding=1), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(b.width, ctx.data.num_classes))
    recipe = TrainConfig(**{**asdict(ctx.budget.retrain), "epochs": b.epochs})
    result = fit(model, ctx.data, recipe, seed=ctx.cfg.seed, stage="toy", evaluate_test=True,
                 on_epoch=lambda epoch, row: ctx.progress(Epoch("retrain", epoch=epoch, epochs=recipe.epochs,
                                                                val_acc=row["val_acc"])))
    return Outcome(f"toy CNN (width {b.width})", {"width": b.width}, count_parameters(model), result, 0.0,
                   asdict(b))


@pytest.fixture
def toy_method():
    register_method("toy", toy, display="Toy CNN", kind="handcrafted", budget=ToyBudget)  # the one registration
    yield "toy"
    unregister_method("toy")


def _config(tmp_path: Path, data_dir: Path, methods: list[str], toy_section: dict | None) -> Path:
    budget = {"samples": {"train": 192, "val": 96, "test": 96}, "retrain": {"epochs": 1, "batch_size": 64}}
    if toy_section is not None:
        budget["methods"] = {"toy": toy_section}
    path = tmp_path / f"compare-{len(list(tmp_path.glob('compare-*.yml')))}.yml"
    path.write_text(yaml.safe_dump({"target": TARGET, "methods": methods, "data_dir": str(data_dir),
                                    "results": "results", "threads": 1, "budget": "tiny",
                                    "budgets": {"tiny": budget}}))
    return path


def test_one_registration_runs_from_cli_yaml_trial_and_report(toy_method, tmp_path, data_dir, capsys):
    # listed, with its kind and display name
    assert tanas(["compare", "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[-1].split() == ["toy", "handcrafted", "Toy", "CNN"]
    assert len(listed) == len(compare.method_names())

    # from the CLI: --methods toy over a config without a toy section (the registered default budget)
    base = _config(tmp_path, data_dir, ["cnn5"], None)
    cli_results = tmp_path / "cli"
    assert tanas(["compare", "--config", str(base), "--methods", "toy", "--results", str(cli_results)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(cli_results / "mnist__2-vs-rest")  # the target's folder: tanas_nni.data.task_folder
    assert "[retrain] toy: epoch 1/1 val acc" in err
    assert "[compare] toy: test error" in err
    rec = json.loads((cli_results / "mnist__2-vs-rest" / "toy.json").read_text())
    assert rec["kind"] == "handcrafted" and rec["budget"] == {"epochs": 1, "width": 4}
    assert rec["settings"]["budget"] == {"epochs": 1, "width": 4}  # the default settings: its budget section

    # from a YAML config: methods [toy] and its own budget section; results relative to the config file
    cfg_path = _config(tmp_path, data_dir, ["toy"], {"epochs": 1, "width": 6})
    assert tanas(["compare", "--config", str(cfg_path)]) == 0
    capsys.readouterr()
    rec = json.loads((tmp_path / "results" / "mnist__2-vs-rest" / "toy.json").read_text())
    assert rec["budget"] == {"epochs": 1, "width": 6} and rec["architecture"] == "toy CNN (width 6)"
    assert rec["retrain_epochs"] == 1 and rec["split_sizes"]["train"] == 192

    # the nnictl trial stage validates the method against the registry and reuses the finished record
    assert trial(["compare", "--config", str(cfg_path), "--param", "method=toy"]) == 0
    lines = capsys.readouterr().err.splitlines()
    final = json.loads([line for line in lines if line.startswith("final result: ")][-1][len("final result: "):])
    assert final["method"] == "toy" and final["default"] == rec["test_error"]
    assert json.loads(final["budget"]) == {"epochs": 1, "width": 6}

    # the report labels it with its display name
    assert tanas(["report", str(tmp_path / "results"), "--out", str(tmp_path / "report")]) == 0
    out = capsys.readouterr().out
    assert "| Toy CNN |" in out and "| Toy CNN |" in (tmp_path / "report" / "report.md").read_text()


def test_a_changed_method_budget_refuses_the_old_record(toy_method, tmp_path, data_dir, capsys):
    cfg_path = _config(tmp_path, data_dir, ["toy"], {"width": 3})
    assert tanas(["compare", "--config", str(cfg_path), "-q"]) == 0
    cfg_path.write_text(cfg_path.read_text().replace("width: 3", "width: 5"))
    assert tanas(["compare", "--config", str(cfg_path), "-q"]) == 2
    assert "made with other settings" in capsys.readouterr().err


def test_method_budget_sections_are_validated(toy_method):
    base = {"target": TARGET, "budget": "b"}
    cfg = load_compare_config(None, {**base, "budgets": {"b": {"methods": {"toy": {"width": 7}}}}})
    assert cfg.active.method("toy") == ToyBudget(width=7) and cfg.active.method("cnn5") == compare.HandcraftedBudget()
    assert cfg.active.method("random-one-shot").subnets == 10  # a registered default other than the class's
    assert cfg.active.method("fuse-standard") is None  # no budget of its own
    for section, message in [({"toy": {"width": 0}}, "compare.budgets.b.methods.toy.width: must be >= 1"),
                             ({"toy": {"depth": 2}}, "methods.toy: unknown key 'depth'"),
                             ({"nasnet": {}}, "methods: unknown method 'nasnet'"),
                             ({"fuse-standard": {"rounds": 2}}, "has no budget section of its own")]:
        with pytest.raises(TanasError, match=message):
            load_compare_config(None, {**base, "budgets": {"b": {"methods": section}}})
    with pytest.raises(TanasError, match="kind must be one of searched, handcrafted"):
        register_method("toy2", toy, kind="manual")
    with pytest.raises(TanasError, match="method name"):
        register_method("Toy Net", toy)
    assert "toy2" not in compare.METHODS


def test_config_distance_target_and_paths(tmp_path):
    for name in distance_names():  # any registered distance, not a fixed list
        assert load_compare_config(None, {"distance": name}).distance == name
    with pytest.raises(TanasError, match="distance: unknown distance 'nope'"):
        load_compare_config(None, {"distance": "nope"})
    cfg = load_compare_config(None, {"target": " MNIST:2-VS-rest"})
    assert cfg.target == TARGET and compare.target_dir(cfg) == Path("runs/compare/mnist__2-vs-rest")
    path = tmp_path / "sub" / "c.yml"
    path.parent.mkdir()
    path.write_text("dictionary: d\nresults: ../r\nspace_file: s.yml\n")
    cfg = load_compare_config(path, {"data_dir": "data"})
    assert cfg.dictionary == str(tmp_path / "sub" / "d") and cfg.results == str(tmp_path / "r")
    assert cfg.space_file == str(tmp_path / "sub" / "s.yml") and cfg.data_dir == "data"  # flags: as given


def test_search_progress_becomes_the_intermediate_results_nni_showed():
    # the metric keys of the compare trial's search curve, one per kind of search progress
    fuse = _search_metrics(PhaseEnd("search", epoch=3, phase="alpha", probabilities={"0": 0.25, "1": 0.75}), 12)
    assert fuse == {"default": 0.25, "stage": "search", "search_progress": 0.25, "epoch": 3, "epochs": 12,
                    "max_probability": 0.75}
    supernet = _search_metrics(SearchEpoch("search", epoch=1, epochs=2, train_loss=0.5, train_acc=0.8), 12)
    assert supernet == {"default": 0.5, "stage": "search", "search_progress": 0.5, "epoch": 1, "epochs": 2,
                        "train_loss": 0.5, "train_acc": 0.8}
    trials = _search_metrics(Step("search", unit="trial", index=1, total=4, val_acc=0.9), 12)
    assert trials == {"default": 0.25, "stage": "search", "search_progress": 0.25, "trial": 1, "trials": 4,
                      "val_acc": 0.9}
    subnets = _search_metrics(Step("search", unit="subnet", index=2, total=2, val_acc=0.7), 12)
    assert set(subnets) == {"default", "stage", "search_progress", "subnet", "subnets", "val_acc"}
    assert _search_metrics(Epoch("retrain", epoch=1, epochs=2, val_acc=0.5), 12) is None
    assert _search_metrics(Message("space", text="x"), 12) is None
