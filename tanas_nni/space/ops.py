"""Cell operations: the DARTS set, registered by name.

Every operation maps ``C`` channels to ``C`` channels; with ``stride=2`` it also halves the resolution (the edges that
leave a reduction cell's input). The modules follow the DARTS reference (ReLU-conv-BN order, separable convolutions
applied twice, a factorised reduction for a strided skip), adapted to 1-channel 28x28 inputs only through the widths the
skeleton chooses. New operations are added with :func:`register_operation`; a space file may name any registered one.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..core.errors import TanasError

__all__ = ["OPERATIONS", "register_operation", "build_operation", "operation_names", "NONE", "Zero",
           "FactorizedReduce", "SepConv", "DilConv", "Conv7x1x7", "ReLUConvBN"]

NONE = "none"

OPERATIONS: dict[str, Callable[[int, int], nn.Module]] = {}


def register_operation(name: str):
    """Register a factory ``fn(channels, stride) -> nn.Module`` under ``name`` (used in space files and architectures)."""
    def deco(fn):
        OPERATIONS[name] = fn
        return fn
    return deco


def operation_names() -> list[str]:
    return list(OPERATIONS)


def build_operation(name: str, channels: int, stride: int) -> nn.Module:
    if name not in OPERATIONS:
        raise TanasError(f"unknown operation {name!r} (known: {', '.join(OPERATIONS)})")
    return OPERATIONS[name](channels, stride)


class ReLUConvBN(nn.Module):
    """ReLU, convolution, batch norm (the DARTS building block)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0):
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(inplace=False), nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False),
                                nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class DilConv(nn.Module):
    """ReLU, depthwise (dilated) convolution, pointwise convolution, batch norm."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride, padding, dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class SepConv(nn.Module):
    """A separable convolution applied twice (the DARTS ``sep_conv``); only the first one strides."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int):
        super().__init__()
        self.op = nn.Sequential(DilConv(c_in, c_in, kernel, stride, padding, 1),
                                DilConv(c_in, c_out, kernel, 1, padding, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Conv7x1x7(nn.Module):
    """ReLU, 1x7 then 7x1 convolution, batch norm (the DARTS ``conv_7x1_1x7``)."""

    def __init__(self, c: int, stride: int):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, (1, 7), stride=(1, stride), padding=(0, 3), bias=False),
            nn.Conv2d(c, c, (7, 1), stride=(stride, 1), padding=(3, 0), bias=False),
            nn.BatchNorm2d(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class FactorizedReduce(nn.Module):
    """A strided identity: two offset 1x1 stride-2 convolutions, concatenated (DARTS), so no pixel is dropped."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv2 = nn.Conv2d(c_in, c_out - c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        # The second branch is shifted by one pixel; pad so odd sizes (7x7 -> 4x4) line up with the first branch.
        shifted = nn.functional.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv1(x), self.conv2(shifted)], dim=1))


class Zero(nn.Module):
    """The ``none`` operation: zeros of the output shape. Networks drop such edges; it exists for supernets."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, ::self.stride, ::self.stride].mul(0.0)


class Pool(nn.Module):
    def __init__(self, kind: str, stride: int):
        super().__init__()
        # count_include_pad=False so border pixels are not dimmed by the zero padding (DARTS does the same).
        self.pool = (nn.MaxPool2d(3, stride, 1) if kind == "max"
                     else nn.AvgPool2d(3, stride, 1, count_include_pad=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x)


register_operation("sep_conv_3x3")(lambda c, s: SepConv(c, c, 3, s, 1))
register_operation("sep_conv_5x5")(lambda c, s: SepConv(c, c, 5, s, 2))
register_operation("sep_conv_7x7")(lambda c, s: SepConv(c, c, 7, s, 3))
register_operation("dil_conv_3x3")(lambda c, s: DilConv(c, c, 3, s, 2, 2))
register_operation("dil_conv_5x5")(lambda c, s: DilConv(c, c, 5, s, 4, 2))
register_operation("conv_7x1_1x7")(lambda c, s: Conv7x1x7(c, s))
register_operation("max_pool_3x3")(lambda c, s: Pool("max", s))
register_operation("avg_pool_3x3")(lambda c, s: Pool("avg", s))
register_operation("skip_connect")(lambda c, s: nn.Identity() if s == 1 else FactorizedReduce(c, c))
register_operation(NONE)(lambda c, s: Zero(s))
