"""FUSE as an NNI one-shot strategy, on toy whole-network spaces and a small real task (seconds each)."""
from __future__ import annotations

import csv
from pathlib import Path
import warnings

import pytest
import torch
from torch import nn

import nni.nas.strategy  # noqa: F401  (before nni.nas.oneshot)
from nni.nas.experiment import NasExperiment, NasExperimentConfig
from nni.nas.nn.pytorch import LayerChoice, ModelSpace
from pytorch_lightning.callbacks import Callback

from tanas_nni.data import SplitSizes, load_task
from tanas_nni.core.errors import TanasError
from tanas_nni.core.progress import Resumed, RoundStart
from tanas_nni.strategy import FUSE, FuseConfig, FuseMixedLayer, fuse_evaluator, pool_size
from tanas_nni.strategy.fuse.config import halving_sizes, survivors
from tests.conftest import TINY_SPACE

warnings.filterwarnings("ignore")


class Mute(nn.Module):
    """A candidate that cannot learn: its logits are always 0 (it has a parameter, which gets no useful gradient)."""

    def __init__(self):
        super().__init__()
        self.b = nn.Parameter(torch.zeros(2))

    def forward(self, x):
        return 0.0 * self.b.expand(len(x), 2)


def small_cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, stride=2), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 13 * 13, 2))


class Toy(ModelSpace):
    """The shape FUSE searches: one LayerChoice over whole networks."""

    def __init__(self, n: int, good: int | None = None):
        super().__init__()
        nets = [small_cnn() if i == good else Mute() for i in range(n)] if good is not None else \
            [small_cnn() for _ in range(n)]
        self.candidate = LayerChoice(nets, label="candidate")

    def forward(self, x):
        return self.candidate(x)


class WithHead(ModelSpace):
    """One LayerChoice, and a parameter outside it."""

    def __init__(self):
        super().__init__()
        self.candidate = LayerChoice([small_cnn(), small_cnn()], label="candidate")
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return self.candidate(x) * self.scale


class TwoChoices(ModelSpace):
    def __init__(self):
        super().__init__()
        self.a = LayerChoice([nn.Identity(), nn.Identity()], label="a")
        self.b = LayerChoice([Mute(), Mute()], label="b")

    def forward(self, x):
        return self.b(self.a(x))


@pytest.fixture(scope="module")
def task(data_dir):
    return load_task("mnist:0-vs-rest", data_dir, seed=0, sizes=SplitSizes(384, 256, 256))


def run_fuse(space, task, callbacks=(), **kw):
    torch.manual_seed(0)
    ev = fuse_evaluator(task.x["train"], task.y["train"], task.x["val"], task.y["val"], 2, learning_rate=1e-2)
    for cb in callbacks:
        ev.trainer.callbacks.append(cb)
    kw = {"candidates_per_round": 3, "rounds": 2, "cycles": 2, "weight_epochs": 2, "alpha_epochs": 1, "alpha_lr": 0.1,
          **kw}
    strategy = FUSE(**kw)
    exp = NasExperiment(space, ev, strategy, NasExperimentConfig("sequential", "raw"))
    exp.run()
    return strategy, exp


def layer_of(strategy) -> FuseMixedLayer:
    return strategy.oneshot_module.mixed_layer()


class PhaseWatch(Callback):
    """Snapshots weights and α around every epoch and checks gradients after every α-phase batch."""

    def __init__(self, strategy_ref):
        self.strategy_ref = strategy_ref
        self.records = []
        self.weight_grads_in_alpha = 0

    def _snapshot(self, pl_module):
        layer = pl_module.mixed_layer()
        weights = {k: v.detach().clone() for k, v in layer.named_parameters() if not k.endswith("_arch_alpha")}
        buffers = {k: v.detach().clone() for k, v in layer.named_buffers() if k != "active"}
        return weights, buffers, layer._arch_alpha.detach().clone()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        # After FuseLightningModule.on_train_epoch_start (a round's start resets α and weights before its first batch).
        if batch_idx == 0:
            self.before = self._snapshot(pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if batch["phase"] == "alpha":
            layer = pl_module.mixed_layer()
            self.weight_grads_in_alpha += sum(p.grad is not None for k, p in layer.named_parameters()
                                              if not k.endswith("_arch_alpha"))

    def on_train_epoch_end(self, trainer, pl_module):
        w0, b0, a0 = self.before
        w1, b1, a1 = self._snapshot(pl_module)
        ph = self.strategy_ref[0].phase_of_epoch(trainer.current_epoch)
        self.records.append({
            "phase": ph["phase"], "first": ph["first_epoch_of_round"],
            "weights_changed": any(not torch.equal(w0[k], w1[k]) for k in w0),
            "buffers_changed": any(not torch.equal(b0[k], b1[k]) for k in b0),
            "alpha_changed": not torch.equal(a0, a1)})


def test_phases_touch_only_their_parameters(task):
    ref = []
    watch = PhaseWatch(ref)

    class Register(Callback):
        def on_fit_start(self, trainer, pl_module):
            ref.append(pl_module.strategy)

    strategy, _ = run_fuse(Toy(5), task, callbacks=[Register(), watch])
    alpha_epochs = [r for r in watch.records if r["phase"] == "alpha"]
    weight_epochs = [r for r in watch.records if r["phase"] == "weights"]
    assert alpha_epochs and weight_epochs
    # α phases: no candidate weight and no BatchNorm statistic moves, no weight gradient is even computed; α moves.
    assert not any(r["weights_changed"] or r["buffers_changed"] for r in alpha_epochs)
    assert watch.weight_grads_in_alpha == 0
    assert all(r["alpha_changed"] for r in alpha_epochs)
    # Weight phases: α stays.
    assert not any(r["alpha_changed"] for r in weight_epochs)
    assert all(r["weights_changed"] for r in weight_epochs)


class CountForwards(Callback):
    """Counts the candidates' forward passes in each α epoch."""

    def __init__(self):
        self.per_alpha_epoch, self._calls, self._hooks = [], 0, []

    def on_fit_start(self, trainer, pl_module):
        layer = pl_module.mixed_layer()
        for name in layer.names:
            self._hooks.append(layer[name].register_forward_hook(lambda *a: self._count()))

    def _count(self):
        self._calls += 1

    def on_train_epoch_start(self, trainer, pl_module):
        self._calls = 0

    def on_train_epoch_end(self, trainer, pl_module):
        ph = pl_module.strategy.phase_of_epoch(trainer.current_epoch)
        if ph["phase"] == "alpha":
            self.per_alpha_epoch.append((ph["first_alpha_epoch"], self._calls))


def test_later_alpha_epochs_reuse_logits_and_match_recomputing(task, monkeypatch):
    kw = {"alpha_epochs": 3, "rounds": 1, "cycles": 2}
    counter = CountForwards()
    cached, _ = run_fuse(Toy(3), task, callbacks=[counter], **kw)
    batches = -(-len(task.y["val"]) // 128)
    # The first α epoch of a phase runs each candidate once per batch; the later ones run none.
    assert counter.per_alpha_epoch == [(True, 3 * batches), (False, 0), (False, 0)] * 2
    # The same search with every logit recomputed ends with the same α, bit for bit.
    monkeypatch.setattr(FuseMixedLayer, "_frozen_forward",
                        lambda self, i, net, args, kwargs: net(*args, **kwargs).detach())
    recomputed, _ = run_fuse(Toy(3), task, **kw)
    assert torch.equal(layer_of(cached)._arch_alpha, layer_of(recomputed)._arch_alpha)
    assert cached.alpha_trajectory() == recomputed.alpha_trajectory()


def test_export_is_argmax_alpha_and_ranking_is_sorted(task):
    strategy, exp = run_fuse(Toy(5), task)
    layer = layer_of(strategy)
    probs = layer.probs()
    best = int(torch.argmax(probs))
    assert exp.export_top_models(1, formatter="dict") == [{"candidate": best}]
    ranking = strategy.ranking()
    assert ranking[0]["choice"] == best and ranking[0]["winner"]
    last_round = [r for r in ranking if r["round"] == ranking[0]["round"]]
    assert [r["probability"] for r in last_round] == sorted((r["probability"] for r in last_round), reverse=True)
    assert abs(sum(r["probability"] for r in last_round) - 1) < 1e-5
    # every candidate of the pool took part exactly once in the ranking
    assert sorted(r["choice"] for r in ranking) == list(range(pool_size(3, 2)))
    top3 = exp.export_top_models(3, formatter="dict")
    assert [s["candidate"] for s in top3] == [r["choice"] for r in ranking[:3]]


def test_planted_better_candidate_wins(task):
    # Candidate 3 is the only one that can learn; it enters in round 1 and must beat the incumbent there and win.
    strategy, exp = run_fuse(Toy(5, good=3), task)
    assert exp.export_top_models(1, formatter="dict") == [{"candidate": 3}]
    rounds = strategy.oneshot_module.fuse_state["rounds"]
    assert rounds[1]["winner"] == 3
    assert rounds[1]["probs"]["3"] > 1 / 3 + 0.05  # clearly above uniform, and above both rivals
    assert all(rounds[1]["probs"]["3"] > p for c, p in rounds[1]["probs"].items() if c != "3")


class Crash(Callback):
    """Kills the run at the start of a given epoch (after the checkpoint of the previous one was written)."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("simulated crash")


def test_stop_and_resume_ends_identical(task, tmp_path):
    full, _ = run_fuse(Toy(5), task, checkpoint_dir=tmp_path / "full")
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_fuse(Toy(5), task, callbacks=[Crash(7)], checkpoint_dir=tmp_path / "cut")  # stops inside round 1
    assert (tmp_path / "cut" / "last.ckpt").is_file()
    events = []
    resumed, _ = run_fuse(Toy(5), task, checkpoint_dir=tmp_path / "cut",  # a fresh process would do the same
                          on_progress=events.append)
    # It really resumed: round 0 is not run again (a run from scratch would end identical too: every round re-seeds).
    assert events and not any(isinstance(e, RoundStart) and e.round == 0 for e in events)
    assert isinstance(events[0], Resumed)
    a, b = layer_of(full).state_dict(), layer_of(resumed).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert full.ranking() == resumed.ranking()
    assert full.alpha_trajectory() == resumed.alpha_trajectory()
    assert (tmp_path / "full" / "trajectory.csv").read_text() == (tmp_path / "cut" / "trajectory.csv").read_text()


def test_state_dict_round_trip(task, tmp_path):
    done, _ = run_fuse(Toy(5), task, checkpoint_dir=tmp_path / "ck")
    state = done.state_dict()
    assert state["ckpt_path"].endswith("last.ckpt") and state["fuse_state"]["rounds"]
    # A new strategy (no checkpoint_dir) given that state resumes at the end and reports the same result.
    torch.manual_seed(0)
    ev = fuse_evaluator(task.x["train"], task.y["train"], task.x["val"], task.y["val"], 2, learning_rate=1e-2)
    events = []
    again = FUSE(candidates_per_round=3, rounds=2, cycles=2, weight_epochs=2, alpha_epochs=1, alpha_lr=0.1,
                 on_progress=events.append)
    from nni.nas.execution import SequentialExecutionEngine
    from nni.nas.space import RawFormatModelSpace

    again.initialize(RawFormatModelSpace(Toy(5), ev), SequentialExecutionEngine())
    again.load_state_dict(state)
    again.run()
    # Resumed at the end: no round runs again (Lightning replays only the checkpointed epoch's end-of-epoch hooks).
    assert not any(isinstance(e, RoundStart) for e in events)
    assert again.ranking() == done.ranking()


def test_trajectory_csv_and_logger(task, tmp_path):
    strategy, _ = run_fuse(Toy(5), task, checkpoint_dir=tmp_path)
    rows = list(csv.DictReader(open(tmp_path / "trajectory.csv")))
    assert len(rows) == strategy.total_epochs
    assert rows[-1]["p_0"] != "" and {r["phase"] for r in rows} == {"weights", "alpha"}


class Guarded(dict):
    def __getitem__(self, key):
        if key == "test":
            raise AssertionError("the test split was read")
        return super().__getitem__(key)

    def get(self, key, default=None):
        return self[key] if key in self else default




def test_alpha_never_sees_the_test_split(task, tmp_path):
    """The search reads train and val only: a guarded test split is never touched, a poisoned one changes nothing."""
    from tanas_nni.pipeline import search
    from tanas_nni.strategy import FuseConfig
    from tanas_nni.space import TaskAwareSpace

    (tmp_path / "tiny.yml").write_text(TINY_SPACE)
    space = TaskAwareSpace.standard(tmp_path / "tiny.yml")
    cfg = FuseConfig(candidates_per_round=2, rounds=2, cycles=1)
    clean = search(task, space, cfg, seed=0)

    import copy
    poisoned = copy.copy(task)
    poisoned.x = Guarded({**task.x, "test": torch.full_like(task.x["test"], float("nan"))})
    poisoned.y = Guarded({**task.y, "test": torch.zeros_like(task.y["test"])})
    dirty = search(poisoned, space, cfg, seed=0)
    assert dirty.ranking == clean.ranking and dirty.trajectory == clean.trajectory


def test_bad_spaces_are_refused(task):
    with pytest.raises(TanasError, match="exactly one LayerChoice"):
        run_fuse(TwoChoices(), task)

    class One(ModelSpace):
        def __init__(self):
            super().__init__()
            self.candidate = LayerChoice([Mute()], label="candidate")

        def forward(self, x):
            return self.candidate(x)

    with pytest.raises(TanasError, match="at least 2"):
        run_fuse(One(), task)
    with pytest.raises(TanasError, match="candidates_per_round"):
        FUSE(candidates_per_round=1)


def test_repr_and_defaults():
    s = FUSE()
    assert repr(s) == ("FUSE(candidates_per_round=4, rounds=3, cycles=2, weight_epochs=1, alpha_epochs=5, "
                       "alpha_lr=0.05, reset_weights=True, weight_loss='own', selection='rounds', "
                       "seed=0)")
    assert s.total_epochs == 3 * 2 * (1 + 5) and pool_size(4, 3) == 10
    assert s.phase_of_epoch(0)["phase"] == "weights" and s.phase_of_epoch(1)["phase"] == "alpha"
    assert s.phase_of_epoch(12) == {"round": 1, "cycle": 0, "phase": "weights", "first_epoch_of_round": True,
                                    "first_alpha_epoch": False, "last_epoch_of_round": False}
    assert s.phase_of_epoch(13)["first_alpha_epoch"] and not s.phase_of_epoch(14)["first_alpha_epoch"]


def test_candidates_are_plain_networks_after_the_search(task):
    strategy, _ = run_fuse(Toy(5), task)
    layer = layer_of(strategy)
    bns = [m for m in layer.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(m.track_running_stats and not hasattr(m, "_fuse_tracked") for m in bns)


def test_a_stalled_search_is_a_clear_error_not_a_hang(tmp_path):
    """A batch that never ends (here: a forward pass that sleeps) stops the search with one line, stacks and exit 3."""
    import subprocess
    import sys

    script = tmp_path / "stall.py"
    script.write_text(
        "import time, torch\n"
        "import nni.nas.strategy\n"
        "from nni.nas.experiment import NasExperiment, NasExperimentConfig\n"
        "from tanas_nni.strategy import FUSE, fuse_evaluator\n"
        "from tanas_nni.strategy.fuse import lightning\n"
        "from tests.test_fuse import Toy\n"
        "real = lightning.FuseLightningModule.training_step\n"
        "def slow(self, batch, batch_idx):\n"
        "    if self.trainer.global_step >= 2:\n"
        "        time.sleep(60)\n"
        "    return real(self, batch, batch_idx)\n"
        "lightning.FuseLightningModule.training_step = slow\n"
        "x, y = torch.rand(64, 1, 28, 28), torch.randint(0, 2, (64,))\n"
        "ev = fuse_evaluator(x, y, x, y, 2, batch_size=16)\n"
        "s = FUSE(candidates_per_round=2, rounds=1, cycles=1, stall_seconds=2, task_name='toy')\n"
        "NasExperiment(Toy(2), ev, s, NasExperimentConfig('sequential', 'raw')).run()\n")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                       cwd=Path(__file__).resolve().parents[1], env={**__import__("os").environ, "PYTHONPATH": str(
                           Path(__file__).resolve().parents[1])})
    assert r.returncode == 3, r.stderr[-2000:]
    line = next(l for l in r.stderr.splitlines() if l.startswith("tanas: error:"))
    assert "FUSE search on toy made no progress for" in line and "(last: round 1, epoch 1, weights phase, batch" in line
    assert "Thread" in r.stderr and "slow" in r.stderr  # the stacks say where it hung


def test_cosine_weight_schedule_runs_and_bad_name_is_refused(task):
    strategy, _ = run_fuse(Toy(5), task, weight_schedule="cosine")
    opt = strategy.oneshot_module._weight_optimizer()
    assert all(g["lr"] < 0.5 * g["fuse_base_lr"] for g in opt.param_groups)  # near the end of the schedule
    assert len(strategy.ranking()) >= 3
    with pytest.raises(TanasError, match="weight_schedule"):
        FUSE(weight_schedule="linear")


def _first_candidate_after_weights(space, task, weight_loss, weight_epochs=2):
    strategy, _ = run_fuse(space, task, candidates_per_round=2, rounds=1, cycles=1, weight_epochs=weight_epochs,
                           weight_loss=weight_loss)
    layer = layer_of(strategy)
    return [p.detach().clone() for p in layer[layer.names[0]].parameters()]


def test_own_loss_trains_each_candidate_as_if_alone(task):
    # The same first candidate (same seeded re-initialisation, same batches) beside a learning rival or a mute one:
    # trained on its own loss it ends identical; trained through the mixture it does not, because its gradient then
    # depends on the rival's logits.
    own = [_first_candidate_after_weights(space, task, "own") for space in (Toy(2), Toy(2, good=0))]
    assert all(torch.equal(a, b) for a, b in zip(*own))
    shorter = _first_candidate_after_weights(Toy(2), task, "own", weight_epochs=1)
    assert not all(torch.equal(a, b) for a, b in zip(own[0], shorter))  # and it did learn: more epochs, other weights
    mixed = [_first_candidate_after_weights(space, task, "mixture") for space in (Toy(2), Toy(2, good=0))]
    assert not all(torch.equal(a, b) for a, b in zip(*mixed))
    with pytest.raises(TanasError, match="weight_loss"):
        FUSE(weight_loss="ensemble")
    with pytest.raises(TanasError, match="weight_loss: 'ensemble' is not one of own, mixture"):
        FuseConfig(weight_loss="ensemble")
    assert FUSE.from_config(FuseConfig(weight_loss="mixture")).weight_loss == "mixture"


def test_own_loss_refuses_a_model_with_parameters_outside_the_choice(task):
    with pytest.raises(TanasError, match="'own' needs a model that is the LayerChoice alone, but scale"):
        run_fuse(WithHead(), task, candidates_per_round=2, rounds=1, cycles=1)
    strategy, _ = run_fuse(WithHead(), task, candidates_per_round=2, rounds=1, cycles=1, weight_loss="mixture")
    assert len(strategy.ranking()) == 2


class RoundWatch(Callback):
    """Every candidate's weights at the end of each round and at the first batch of the next (after its start)."""

    def __init__(self):
        self.ends, self.starts = {}, {}

    def _weights(self, pl_module):
        layer = pl_module.mixed_layer()
        return {n: [p.detach().clone() for p in layer[n].parameters()] for n in layer.names}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        ph = pl_module.strategy.phase_of_epoch(trainer.current_epoch)
        if batch_idx == 0 and ph["first_epoch_of_round"]:
            self.starts[ph["round"]] = self._weights(pl_module)

    def on_train_epoch_end(self, trainer, pl_module):
        ph = pl_module.strategy.phase_of_epoch(trainer.current_epoch)
        if ph["last_epoch_of_round"]:
            self.ends[ph["round"]] = self._weights(pl_module)


def test_halving_narrows_the_whole_pool_and_the_survivors_keep_training(task):
    watch = RoundWatch()
    strategy, exp = run_fuse(Toy(5), task, callbacks=[watch], selection="halving")
    rounds = strategy.oneshot_module.fuse_state["rounds"]
    # a pool of 5 (3 per round × 2 rounds in the rounds schedule): 5, then the better 3, then the better 2
    assert strategy.rounds_run == 3 and [len(r["members"]) for r in rounds] == [5, 3, 2]
    assert [int(c) for c in rounds[0]["members"]] == [0, 1, 2, 3, 4]
    for before, after in zip(rounds, rounds[1:]):
        ranked = sorted(before["probs"], key=lambda c: (-before["probs"][c], int(c)))
        members = sorted(str(c) for c in after["members"])
        assert members == sorted(ranked[:len(members)]) == sorted(str(c) for c in before["survivors"])
        assert len(members) == survivors(len(before["members"]))
        # the survivors start the round with the weights they ended the last one with (not re-initialised)
        r = before["round"]
        for c in after["members"]:
            assert all(torch.equal(a, b) for a, b in zip(watch.ends[r][c], watch.starts[r + 1][c]))
    winner = rounds[-1]["winner"]
    assert exp.export_top_models(1, formatter="dict") == [{"candidate": int(winner)}]
    ranking = strategy.ranking()
    assert ranking[0]["choice"] == int(winner) and sorted(r["choice"] for r in ranking) == [0, 1, 2, 3, 4]
    # the winner trained rounds × cycles × weight_epochs epochs: its weights moved in every round
    for r in range(1, 3):
        assert not all(torch.equal(a, b) for a, b in zip(watch.starts[r][winner], watch.ends[r][winner]))


def test_halving_keeps_a_planted_better_candidate_to_the_end(task):
    strategy, exp = run_fuse(Toy(5, good=3), task, selection="halving")
    rounds = strategy.oneshot_module.fuse_state["rounds"]
    assert all("3" in [str(c) for c in r["members"]] for r in rounds)
    assert exp.export_top_models(1, formatter="dict") == [{"candidate": 3}]


def test_halving_resumes_identical(task, tmp_path):
    full, _ = run_fuse(Toy(5), task, checkpoint_dir=tmp_path / "full", selection="halving")
    with pytest.raises(RuntimeError, match="simulated crash"):  # epoch 7: round 1, after its first cycle
        run_fuse(Toy(5), task, callbacks=[Crash(7)], checkpoint_dir=tmp_path / "cut", selection="halving")
    resumed, _ = run_fuse(Toy(5), task, checkpoint_dir=tmp_path / "cut", selection="halving")
    a, b = layer_of(full).state_dict(), layer_of(resumed).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert full.ranking() == resumed.ranking()
    assert full.oneshot_module.fuse_state["rounds"] == resumed.oneshot_module.fuse_state["rounds"]


def test_halving_config_counts_its_rounds_and_bad_names_are_refused():
    cfg = FuseConfig(candidates_per_round=4, rounds=3, cycles=2, selection="halving")
    assert cfg.pool() == 10 and cfg.rounds_total() == 4 and halving_sizes(10) == [10, 5, 3, 2]
    assert cfg.weight_epochs_total() == 8 and cfg.epochs_total() == 4 * 2 * (1 + 5)
    assert FuseConfig(rounds=3, cycles=2).weight_epochs_total() == 6  # the rounds schedule as before
    assert FUSE.from_config(cfg).selection == "halving"
    with pytest.raises(TanasError, match="selection: 'tournament' is not one of rounds, halving"):
        FuseConfig(selection="tournament")
    with pytest.raises(TanasError, match="fuse.selection"):
        FUSE(selection="tournament")
