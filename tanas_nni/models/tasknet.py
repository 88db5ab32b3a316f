"""The ε-representative network trained for each base task of the dictionary.

It follows the reference's per-task CNN (conv32-conv64-fc128) with batch norm. The distances read its
penultimate features (:meth:`TaskNet.features`), so its width is a parameter of the dictionary. ``network: {name:
shallow}`` picks :class:`ShallowNet` instead, the reference code's own one-convolution network.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..core.errors import TanasError

__all__ = ["TaskNet", "ShallowNet", "NETWORKS", "register_network", "build_network"]

NETWORKS: dict[str, Callable[..., nn.Module]] = {}


def register_network(name: str):
    """Register a network factory ``fn(num_classes, input_shape, **kwargs)`` under ``name``."""
    def deco(fn):
        NETWORKS[name] = fn
        return fn
    return deco


def build_network(name: str, num_classes: int, input_shape=(1, 28, 28), **kwargs) -> nn.Module:
    if name not in NETWORKS:
        raise TanasError(f"unknown network {name!r} (known: {', '.join(sorted(NETWORKS))})")
    try:
        return NETWORKS[name](num_classes=num_classes, input_shape=tuple(input_shape), **kwargs)
    except TypeError as e:
        raise TanasError(f"network {name!r}: {e}") from None


class _FeatureNet(nn.Module):
    """A dictionary network: ``body`` ends in the penultimate features (after a ReLU), ``head`` classifies them."""

    body: nn.Module
    head: nn.Linear

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (after the last hidden layer's ReLU)."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class TaskNet(_FeatureNet):
    """conv(w)-BN-ReLU-pool, conv(2w)-BN-ReLU-pool, fc(features)-ReLU, fc(classes)."""

    def __init__(self, num_classes: int = 2, input_shape=(1, 28, 28), width: int = 32, features: int = 128):
        super().__init__()
        c, h, w = input_shape
        self.body = nn.Sequential(
            nn.Conv2d(c, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU(inplace=True),
            nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(2 * width * (h // 4) * (w // 4), features), nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(features, num_classes)
        self.feature_dim = features


@register_network("tasknet")
def _tasknet(num_classes, input_shape, width: int = 32, features: int = 128):
    return TaskNet(num_classes, input_shape, width, features)


class ShallowNet(_FeatureNet):
    """conv5x5(w)-ReLU-pool(p), fc(features)-ReLU, fc(classes): the reference code's per-task network (one convolution
    and one wide fully connected layer; the reference has no pooling and 1024 features)."""

    def __init__(self, num_classes: int = 2, input_shape=(1, 28, 28), width: int = 32, features: int = 256,
                 pool: int = 2):
        super().__init__()
        c, h, w = input_shape
        self.body = nn.Sequential(
            nn.Conv2d(c, width, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(pool) if pool > 1 else nn.Identity(),
            nn.Flatten(), nn.Linear(width * (h // pool) * (w // pool), features), nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(features, num_classes)
        self.feature_dim = features


@register_network("shallow")
def _shallow(num_classes, input_shape, width: int = 32, features: int = 256, pool: int = 2):
    return ShallowNet(num_classes, input_shape, width, features, pool)
