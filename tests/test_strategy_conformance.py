"""The strategy conformance suite (tanas_nni/testing/strategy.py): every registered strategy passes it, and each point
of the contract fails a strategy that breaks it (a suite that cannot fail checks nothing)."""
from __future__ import annotations

import warnings

import pytest
import torch

from tanas_nni.data import SplitSizes, load_task
from tanas_nni.strategy import FUSE, STRATEGIES, get_strategy
from tanas_nni.testing.strategy import StrategyConformanceError, check_strategy, guarded_test_split

warnings.filterwarnings("ignore")


@pytest.fixture(scope="module")
def task(data_dir):
    return load_task("mnist:0-vs-rest", data_dir, seed=0, sizes=SplitSizes(128, 64, 32))


def unchanged(task, x, y, x_test, y_test) -> bool:
    """The suite put the task back as it found it: the same split mappings and test tensors."""
    return (task.x is x and task.y is y and type(task.x["test"]) is torch.Tensor
            and torch.equal(task.x["test"], x_test) and torch.equal(task.y["test"], y_test))


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_registered_strategy_conforms(name, task):
    x, y, x_test, y_test = task.x, task.y, task.x["test"].clone(), task.y["test"].clone()
    check_strategy(get_strategy(name), task)
    assert unchanged(task, x, y, x_test, y_test)


# --- strategies that break one point each ------------------------------------------------------------------------
class OutOfRangeIncumbent(FUSE):
    def incumbent(self):
        _, net = super().incumbent()
        return len(self.oneshot_module.mixed_layer().names), net


class WorstFirst(FUSE):
    def ranking(self):
        return list(reversed(super().ranking()))


class ForgetsItsState(FUSE):
    def load_state_dict(self, state_dict):
        pass


class PeeksAtTheTestSplit(FUSE):
    """Made with the task in hand (as a zero-cost-proxy strategy might be), and looks at its test split."""

    def __init__(self, *, data=None, via="key", **kwargs):
        super().__init__(**kwargs)
        self.data, self.via = data, via

    def mutate_model(self, model):
        try:  # a strategy that swallows the error is caught all the same
            if self.via == "key":
                self.data.x["test"]
            else:  # around the mapping: the tensor itself refuses to be used
                torch.cat([t.flatten() for t in self.data.x.values()]).mean()
        except Exception:
            pass
        return super().mutate_model(model)


@pytest.mark.parametrize("make, match", [
    (OutOfRangeIncumbent, "incumbent\\(\\): index 3 is not one of the 3 candidates"),
    (WorstFirst, "ranking\\(\\): not best first"),
    (ForgetsItsState, "state: after load_state_dict"),
    ("key", "test split: .*data.x\\['test'\\]"),
    ("values", "test split: .*test-split tensor"),
], ids=["incumbent-out-of-range", "ranking-worst-first", "state-ignored", "reads-test-key", "uses-test-tensor"])
def test_the_suite_fails_a_broken_strategy(make, match, task):
    if isinstance(make, str):
        via = make

        def make(cfg, **kw):
            return PeeksAtTheTestSplit.from_config(cfg, data=task, via=via, **kw)

    x, y, x_test, y_test = task.x, task.y, task.x["test"].clone(), task.y["test"].clone()
    with pytest.raises(StrategyConformanceError, match=match):
        check_strategy(make, task)
    assert unchanged(task, x, y, x_test, y_test)


def test_the_guard_records_reads_and_restores(task):
    x = task.x
    with guarded_test_split(task) as reads:
        assert torch.isfinite(task.x["train"]).all() and len(task.y["val"]) == 64
        assert reads == []
        with pytest.raises(StrategyConformanceError):
            task.y["test"]
        with pytest.raises(StrategyConformanceError):
            len(dict(task.x)["test"])
        assert len(reads) == 2
    assert task.x is x and torch.isfinite(task.x["test"]).all()


def test_a_factory_that_is_not_a_strategy_is_refused(task):
    with pytest.raises(StrategyConformanceError, match="from_config"):
        check_strategy(lambda cfg, **kw: object(), task)
    with pytest.raises(StrategyConformanceError, match="from_config"):
        check_strategy(int, task)
