"""The shared training recipe: determinism, numerical faults, BN statistics, augmentation."""
from __future__ import annotations

import pytest
import torch

from tanas_nni.data import SplitSizes, load_task
from tanas_nni.core.errors import NumericalError
from tanas_nni.models import build_network
from tanas_nni.core.config import config_hash, to_dict
from tanas_nni.training import TrainConfig, fit, random_flip, random_shift, seed_everything


@pytest.fixture(scope="module")
def task(data_dir):
    return load_task("quickdraw:eye-vs-rest", data_dir, sizes=SplitSizes(256, 128, 128))


def _train(task, **cfg):
    seed_everything(0)
    model = build_network("tasknet", 2, width=8, features=16)
    return model, fit(model, task, TrainConfig(epochs=2, batch_size=64, **cfg), seed=0)


def test_same_seed_same_weights_and_metrics(task):
    m1, r1 = _train(task)
    m2, r2 = _train(task)
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))
    assert r1["test_acc"] == r2["test_acc"] and r1["history"][-1]["train_loss"] == r2["history"][-1]["train_loss"]


def test_nan_loss_names_stage_task_and_step(task):
    poisoned = type(task)(task.spec, task.class_names, dict(task.x), dict(task.y), task.seed)
    x = task.x["train"].clone()
    x[70] = float("nan")  # lands in the second batch of the first epoch for some permutation; any batch will do
    poisoned.x["train"] = x
    with pytest.raises(NumericalError) as e:
        seed_everything(0)
        fit(build_network("tasknet", 2, width=8, features=16), poisoned, TrainConfig(epochs=1, batch_size=64),
            stage="dictionary build")
    msg = str(e.value)
    assert "dictionary build" in msg and "quickdraw:eye-vs-rest" in msg and "at step" in msg and "nan" in msg


def test_bn_recalibration_makes_eval_match_the_weights(task):
    # Few steps with a one-cycle schedule: running statistics lag the weights unless recomputed.
    _, with_recal = _train(task, keep_best=False)
    _, without = _train(task, keep_best=False, bn_recalibration=0)
    assert with_recal["val_acc"] >= without["val_acc"]


def test_random_shift_moves_content_within_bounds():
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(16, 1, 8, 8)
    x[:, :, 3:5, 3:5] = 1.0
    y = random_shift(x, 2, g)
    assert y.shape == x.shape and torch.all(y.sum(dim=(1, 2, 3)) == 4)  # the blob is moved, never cut
    assert not torch.equal(y, x.expand_as(y))
    assert torch.equal(random_shift(x, 0, g), x)


def test_random_flip_mirrors_about_half_of_the_images():
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(400, 1, 4, 4)
    x[:, :, :, 0] = 1.0  # a bar on the left edge
    y = random_flip(x, g)
    mirrored = y[:, 0, 0, 3] == 1.0
    assert torch.equal(y[mirrored], x[mirrored].flip(-1)) and torch.equal(y[~mirrored], x[~mirrored])
    assert 150 < int(mirrored.sum()) < 250


def test_flip_changes_training_only_when_on_and_leaves_old_hashes_alone(task):
    # A recipe without the option hashes as before it existed (records, dictionary entries, shipped architectures).
    assert "flip" not in to_dict(TrainConfig()) and to_dict(TrainConfig(flip=True))["flip"] is True
    assert config_hash(TrainConfig()) == "d8aae85428fe" != config_hash(TrainConfig(flip=True))
    m_off, _ = _train(task, flip=False)
    m_plain, _ = _train(task)
    m_on, _ = _train(task, flip=True)
    weights = [list(m.state_dict().values()) for m in (m_off, m_plain, m_on)]
    assert all(torch.equal(a, b) for a, b in zip(weights[0], weights[1]))
    assert not all(torch.equal(a, b) for a, b in zip(weights[0], weights[2]))


def test_recipe_validation():
    from tanas_nni.core.errors import TanasError

    with pytest.raises(TanasError, match="epochs: must be >= 1"):
        TrainConfig(epochs=0)
    with pytest.raises(TanasError, match="lr: must be > 0"):
        TrainConfig(lr=0)


def test_shallow_network_learns_and_exposes_its_features(task):
    """The reference code's per-task network (one 5x5 convolution, one wide layer) as a dictionary network option."""
    seed_everything(0)
    model = build_network("shallow", 2, width=8, features=32)
    result = fit(model, task, TrainConfig(epochs=3, batch_size=64, lr=1e-3, optimizer="adam", schedule="constant",
                                          shift=0), seed=0)
    x = task.x["val"][:5]
    assert model.features(x).shape == (5, 32) and model(x).shape == (5, 2)
    assert (model.features(x) >= 0).all()  # penultimate features after the ReLU, as the distances expect
    assert result["val_acc"] > 0.6  # learns the task (chance is 0.5)
