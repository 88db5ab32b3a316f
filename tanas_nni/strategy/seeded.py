"""NNI's RandomOneShot with its path sampling seeded.

NNI 3.0's ``RandomOneShot`` samples every path with ``Categorical.random()``, which makes a fresh, unseeded numpy
``RandomState`` on each call (``nni/mutable/mutable.py``): no global seed reaches it, so two runs train different
supernets and export different architectures. NNI's own mechanism for changing what a one-shot strategy puts in place
of a ``LayerChoice`` is a mutation hook; :class:`SeededRandomOneShot` supplies one whose layer draws from a generator
seeded once per run. Everything else (training, the export, the filter) is NNI's.
"""
from __future__ import annotations

import nni.nas.strategy  # noqa: F401  (before nni.nas.oneshot: docs/nni.md, "import order")
from nni.nas.nn.pytorch import LayerChoice, ModelSpace
from nni.nas.oneshot.pytorch.strategy import RandomOneShot
from nni.nas.oneshot.pytorch.supermodule.sampling import PathSamplingLayer
from numpy.random import RandomState

__all__ = ["SeededRandomOneShot", "SeededPathSamplingLayer"]


class SeededPathSamplingLayer(PathSamplingLayer):
    """NNI's path-sampling layer, drawing from ``random_state`` (set by :class:`SeededRandomOneShot`)."""

    random_state: RandomState | None = None

    def resample(self, memo):
        if self.label in memo:
            self._sampled = memo[self.label]
        else:
            self._sampled = self.choice.random(random_state=self.random_state)
        return {self.label: self._sampled}

    def export(self, memo):
        if self.label in memo:
            return {}
        return {self.label: self.choice.random(random_state=self.random_state)}

    @classmethod
    def mutate(cls, module, name, memo, mutate_kwargs):
        if type(module) is LayerChoice:
            return cls(module.candidates, module.label)
        return None


class SeededRandomOneShot(RandomOneShot):
    """``RandomOneShot`` (uniform path sampling, SPOS) whose sampled paths, and so its supernet and its export, depend on
    ``seed`` alone."""

    def __init__(self, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed

    def default_mutation_hooks(self):
        hooks = super().default_mutation_hooks()
        return [SeededPathSamplingLayer.mutate if h == PathSamplingLayer.mutate else h for h in hooks]

    def mutate_model(self, model: ModelSpace) -> ModelSpace:
        model = super().mutate_model(model)
        rng = RandomState(self.seed)  # one generator for the run, shared by the layers in module order
        for module in model.modules():
            if isinstance(module, SeededPathSamplingLayer):
                module.random_state = rng
        return model

    def extra_repr(self) -> str:
        return f"seed={self.seed}"
