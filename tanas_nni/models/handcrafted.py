"""Handcrafted baselines for the comparison: torchvision's ResNet-18/34 and DenseNet-161 adapted to small grey images,
and a small 5-conv CNN.

Adaptation (the usual one for 28×28 / 32×32 inputs): the first convolution takes 1 channel and is 3×3 with stride
``stem_stride`` (1 by default, as for CIFAR), the stem's max-pool is removed, and the classifier has ``num_classes``
outputs. On 2 CPU cores a stride-1 ResNet-18 takes about 100 s per epoch on 4,200 images (docs/targets.md); ``stem_stride=2``
quarters that, at some cost in accuracy. Which stem a comparison used is recorded with its results.
"""
from __future__ import annotations

from torch import nn
from torchvision import models as tvm

from .tasknet import register_network

__all__ = ["HANDCRAFTED", "resnet18", "resnet34", "densenet161", "cnn5"]

HANDCRAFTED = ("resnet18", "resnet34", "densenet161", "cnn5")  # the registered names of the baselines below


def _resnet(depth: int, num_classes: int, input_shape, stem_stride: int = 1) -> nn.Module:
    net = {18: tvm.resnet18, 34: tvm.resnet34}[depth](weights=None, num_classes=num_classes)
    net.conv1 = nn.Conv2d(input_shape[0], 64, 3, stride=stem_stride, padding=1, bias=False)
    net.maxpool = nn.Identity()
    return net


@register_network("resnet18")
def resnet18(num_classes: int, input_shape=(1, 28, 28), stem_stride: int = 1) -> nn.Module:
    return _resnet(18, num_classes, input_shape, stem_stride)


@register_network("resnet34")
def resnet34(num_classes: int, input_shape=(1, 28, 28), stem_stride: int = 1) -> nn.Module:
    return _resnet(34, num_classes, input_shape, stem_stride)


@register_network("densenet161")
def densenet161(num_classes: int, input_shape=(1, 28, 28), stem_stride: int = 1) -> nn.Module:
    net = tvm.densenet161(weights=None, num_classes=num_classes)
    out = net.features.conv0.out_channels
    net.features.conv0 = nn.Conv2d(input_shape[0], out, 3, stride=stem_stride, padding=1, bias=False)
    net.features.pool0 = nn.Identity()
    return net


@register_network("cnn5")
def cnn5(num_classes: int, input_shape=(1, 28, 28), width: int = 32) -> nn.Module:
    """conv w - conv w - pool - conv 2w - conv 2w - pool - conv 4w - global average pool - linear, each conv with BN."""
    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    w = width
    return nn.Sequential(*block(input_shape[0], w), *block(w, w), nn.MaxPool2d(2), *block(w, 2 * w),
                         *block(2 * w, 2 * w), nn.MaxPool2d(2), *block(2 * w, 4 * w), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4 * w, num_classes))
