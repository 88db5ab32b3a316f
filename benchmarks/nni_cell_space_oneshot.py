"""Check that NNI's DARTS and RandomOneShot accept tanas_nni's cell_space and that exports convert back (tiny random data)."""
import warnings; warnings.filterwarnings("ignore")
import torch
torch.set_num_threads(1)
import nni.nas.strategy as strategy
from nni.nas.evaluator.pytorch import Classification, DataLoader
from nni.nas.experiment import NasExperiment, NasExperimentConfig
from torch.utils.data import TensorDataset
import nni
from tanas_nni.space import TaskAwareSpace, cell_space, architecture_from_sample, load_space, build_model
from tanas_nni.space.architecture import Skeleton

spec = load_space()
space = cell_space(TaskAwareSpace.standard(spec), 2, skeleton=Skeleton(8, 2, (0, 1)),
                   topology=next(c for c in spec.cells if len(c.edges) == 3))
x = torch.rand(64, 1, 28, 28); y = (torch.rand(64) > 0.5).long()
train = nni.trace(TensorDataset)(x, y); val = nni.trace(TensorDataset)(x[:32], y[:32])
def evaluator():
    return Classification(train_dataloaders=DataLoader(train, batch_size=32), val_dataloaders=DataLoader(val, batch_size=32),
                          num_classes=2, max_epochs=1, accelerator="cpu", enable_progress_bar=False, logger=False,
                          enable_model_summary=False, enable_checkpointing=False)
# Multi-trial Random: see nni_cell_space_random.py (a Lightning evaluator reused across models hits NNI's KeyError bug).
for name, strat in [("DARTS", strategy.DARTS()), ("RandomOneShot", strategy.RandomOneShot())]:
    kw = {"max_trial_number": 2} if name == "Random" else {}
    cfg = NasExperimentConfig("sequential", "raw")
    if kw: cfg.max_trial_number = 2
    space = cell_space(TaskAwareSpace.standard(spec), 2, skeleton=Skeleton(8, 2, (0, 1)), topology=next(c for c in spec.cells if len(c.edges) == 3))
    exp = NasExperiment(space, evaluator(), strat, cfg)
    exp.run()
    top = exp.export_top_models(formatter="dict")
    arch = architecture_from_sample(space, top[0])
    print(name, "->", top[0], "->", arch, build_model(arch, 2)(x[:2]).shape, flush=True)
