"""Check that NNI's multi-trial Random samples tanas_nni's cell_space and that samples convert back (tiny random data)."""
import warnings; warnings.filterwarnings("ignore")
import torch
torch.set_num_threads(1)
import nni, nni.nas.strategy as strategy
from nni.nas.evaluator import FunctionalEvaluator
from nni.nas.experiment import NasExperiment, NasExperimentConfig
from tanas_nni.space import TaskAwareSpace, cell_space, architecture_from_sample, load_space
from tanas_nni.space.architecture import Skeleton

def evaluate(model):
    x = torch.rand(32, 1, 28, 28); y = (torch.rand(32) > 0.5).long()
    nni.report_final_result(float((model(x).argmax(1) == y).float().mean()))

spec = load_space()
space = cell_space(TaskAwareSpace.standard(spec), 2, skeleton=Skeleton(8, 2, (0, 1)),
                   topology=next(c for c in spec.cells if len(c.edges) == 3))
cfg = NasExperimentConfig("sequential", "raw"); cfg.max_trial_number = 3
exp = NasExperiment(space, FunctionalEvaluator(evaluate), strategy.Random(), cfg)
exp.run()
for m in exp.export_top_models(top_k=3, formatter="dict"):
    print("Random ->", m, "->", architecture_from_sample(space, m))
