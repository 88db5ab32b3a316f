"""``TaskAware(strategy, space)`` run for real through NNI's ``NasExperiment`` in front of NNI's own strategies.

Each test runs one NNI strategy (DARTS, RandomOneShot, Random) wrapped in :class:`TaskAware` on the task-aware space of
``tests/test_task_aware.py`` (k=2: the two MNIST neighbours), on a few dozen real MNIST examples for one epoch, the way
``tanas_nni/experiment/compare/methods.py`` runs them (the sequential engine, raw format, records in a temporary
folder), and checks that the strategy searched the task-aware space: the exported top model is a network of that space
(the nearest neighbour's skeleton and cell, only the neighbours' operations on its edges), and results came back.
"""
from __future__ import annotations

from contextlib import contextmanager

import nni
import nni.nas.strategy as strategies  # before anything of nni.nas.oneshot: docs/nni.md, "import order"
import pytest
import torch
from nni.nas.evaluator import FunctionalEvaluator
from nni.nas.evaluator.pytorch import Classification
from nni.nas.experiment import NasExperiment, NasExperimentConfig

from tanas_nni.data import SplitSizes, load_task
from tanas_nni.space import CellSpace, TaskAwareSpace, architecture_from_sample
from tanas_nni.strategy import SeededRandomOneShot, TaskAware, TensorBatches
from tanas_nni.training import TrainConfig, evaluate, fit

from test_task_aware import ARCHS, DIST, TARGET

BATCH = 16
# Operations only the two far (Fashion-MNIST) tasks use: outside the k=2 task-aware space.
FAR_OPERATIONS = {"conv_7x1_1x7", "avg_pool_3x3", "sep_conv_7x7", "dil_conv_5x5", "none"}


@pytest.fixture(scope="module")
def data(data_dir):
    """48 training, 24 validation images of the target (mnist:2-vs-rest): a few dozen real examples."""
    return load_task(TARGET, data_dir, seed=0, sizes=SplitSizes(48, 24, 2))


def task_aware(strategy) -> TaskAware:
    torch.manual_seed(0)
    return TaskAware(strategy, TaskAwareSpace.from_distances(DIST, ARCHS, k=2, target=TARGET))


def config(tmp_path, max_trials: int | None = None) -> NasExperimentConfig:
    cfg = NasExperimentConfig("sequential", "raw")  # in-process, no NNI manager (docs/nni.md, "one-shot strategies")
    cfg.experiment_working_directory = str(tmp_path / "nni")
    if max_trials is not None:
        cfg.max_trial_number = max_trials
    return cfg


@contextmanager
def running(exp: NasExperiment):
    """Run ``exp`` and stop it when the test is done with it (NNI otherwise stops it at exit, after pytest closed the
    streams its logging writes to)."""
    try:
        exp.run()
        yield exp
    finally:
        exp.stop()


def lightning_evaluator(data) -> Classification:
    return Classification(learning_rate=3e-3, optimizer=torch.optim.AdamW, num_classes=data.num_classes,
                          train_dataloaders=TensorBatches(data.x["train"], data.y["train"], BATCH, seed=0),
                          val_dataloaders=TensorBatches(data.x["val"], data.y["val"], BATCH, shuffle=False),
                          max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                          enable_model_summary=False, num_sanity_val_steps=0, accelerator="cpu")


def assert_in_task_aware_space(ta: TaskAware, sample: dict) -> None:
    """The exported choice is a network of the task-aware space, and of nothing wider."""
    assert isinstance(ta.space, CellSpace)
    arch = architecture_from_sample(ta.space, sample)
    nearest = ta.task_space.base_architectures[0]
    assert arch.skeleton == nearest.skeleton and arch.cell.topology == nearest.cell.topology
    assert arch.operations() <= set(ta.task_space.spec.operations)
    assert not arch.operations() & FAR_OPERATIONS
    assert ta.task_space.contains(arch)
    # Every edge of the searched space offered the neighbours' operations only.
    for choice in ta.space.simplify().values():
        assert set(choice.values) <= set(ta.task_space.spec.operations)


def test_darts_searches_the_task_aware_space(data, tmp_path):
    ta = task_aware(strategies.DARTS())
    with running(NasExperiment(ta.space, lightning_evaluator(data), ta, config(tmp_path))) as exp:
        sample = exp.export_top_models(formatter="dict")[0]
    assert_in_task_aware_space(ta, sample)
    # DARTS trained architecture weights over exactly the task-aware operations of every edge.
    alphas = ta.strategy._arch_parameters
    assert set(alphas) == set(ta.space.simplify())
    assert all(p.numel() == len(ta.space.operations) for p in alphas.values())
    assert ta.architecture(None, sample) == architecture_from_sample(ta.space, sample)


def test_random_one_shot_searches_the_task_aware_space(data, tmp_path):
    ta = task_aware(SeededRandomOneShot(seed=0))
    with running(NasExperiment(ta.space, lightning_evaluator(data), ta, config(tmp_path))) as exp:
        sample = exp.export_top_models(formatter="dict")[0]
    assert_in_task_aware_space(ta, sample)
    assert ta.oneshot_module.trainer.current_epoch == 1  # the supernet was trained for its one epoch


def test_random_searches_the_task_aware_space(data, tmp_path):
    scores = []

    # A FunctionalEvaluator: NNI's Lightning evaluator reused across models fails on the sequential engine
    # (docs/nni.md, "evaluators").
    def trial(model):
        fit(model, data, TrainConfig(epochs=1, batch_size=BATCH), seed=0, evaluate_test=False)
        acc = evaluate(model, data.x["val"], data.y["val"])["acc"]
        scores.append(acc)
        nni.report_final_result(acc)

    ta = task_aware(strategies.Random(seed=0))
    with running(NasExperiment(ta.space, FunctionalEvaluator(trial), ta, config(tmp_path, max_trials=2))) as exp:
        models = list(ta.list_models())
        top = exp.export_top_models(top_k=1, formatter="dict")[0]
    assert len(scores) == 2 and all(0.0 <= s <= 1.0 for s in scores)
    assert len(models) == 2 and sorted(m.metric for m in models) == sorted(scores)
    for m in models:
        assert_in_task_aware_space(ta, m.sample)
    assert_in_task_aware_space(ta, top)
    assert top == max(models, key=lambda m: m.metric).sample


def test_an_experiment_given_another_space_is_refused(tmp_path):
    from tanas_nni.core.errors import TanasError
    from tanas_nni.space import cell_space

    ta = task_aware(strategies.Random(seed=0))
    standard = cell_space(TaskAwareSpace.standard(), 2)
    exp = NasExperiment(standard, FunctionalEvaluator(lambda model: nni.report_final_result(0.0)), ta,
                        config(tmp_path, max_trials=1))
    with pytest.raises(TanasError, match="TaskAware.space") as e:
        with running(exp):
            pass
    assert "\n" not in str(e.value)
