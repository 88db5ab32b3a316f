"""Diagonal empirical Fisher information and linear probes: the numerical kernels of the distances.

Per-example gradients are what an empirical Fisher needs. ``torch.func.vmap`` computes them generally, but on CPU it runs
convolutions per example and is about 15x slower than a plain loop; for the layers that carry the weights of the networks
here (``Linear`` and ``Conv2d``) the per-example gradient is an outer product of the layer's input and its output gradient,
so one batched backward pass with hooks gives every example's squared gradient at the cost of one matrix product.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["diagonal_fisher", "fit_linear_probe", "fisher_layers"]


def fisher_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The layers whose weights enter the Fisher: every ``Linear`` and ungrouped ``Conv2d`` (batch-norm scales are left
    out: they are a few dozen numbers next to hundreds of thousands, and their per-example gradients need the batch)."""
    return [(n, m) for n, m in model.named_modules()
            if isinstance(m, nn.Linear) or (isinstance(m, nn.Conv2d) and m.groups == 1)]


@torch.no_grad()
def _square_grads(module: nn.Module, a: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Sum over the batch of each example's squared gradient for ``module``'s weight and bias."""
    if isinstance(module, nn.Linear):
        a = a.reshape(-1, a.shape[-1]) if a.dim() == 2 else a.flatten(0, -2)
        g = g.reshape(-1, g.shape[-1]) if g.dim() == 2 else g.flatten(0, -2)
        w = (g * g).T @ (a * a)
        b = (g * g).sum(0) if module.bias is not None else None
        return w, b
    cols = F.unfold(a, module.kernel_size, dilation=module.dilation, padding=module.padding, stride=module.stride)
    gg = g.flatten(2)  # (N, C_out, P)
    per_example = torch.bmm(gg, cols.transpose(1, 2))  # (N, C_out, C_in*k*k): each example's weight gradient
    w = (per_example ** 2).sum(0).view_as(module.weight)
    b = (gg.sum(2) ** 2).sum(0) if module.bias is not None else None
    return w, b


def diagonal_fisher(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256,
                    layers: list[tuple[str, nn.Module]] | None = None) -> dict[str, torch.Tensor]:
    """Diagonal empirical Fisher ``E[(∂ log p(y|x) / ∂θ)²]`` of ``model`` (eval mode) over ``(x, y)``.

    Returns one tensor per parameter (``"body.0.weight"``, ...), not normalised. Only the layers of :func:`fisher_layers`
    (or ``layers``) are included.
    """
    model.eval()
    layers = layers if layers is not None else fisher_layers(model)
    store: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    handles = []
    for name, m in layers:
        def fwd(mod, inp, out, name=name):
            store[name] = (inp[0].detach(), out)
            # Hand the rest of the network a copy: a following in-place ReLU would otherwise overwrite the tensor whose
            # gradient is asked for below.
            return out.clone()
        handles.append(m.register_forward_hook(fwd))
    acc: dict[str, torch.Tensor] = {}
    try:
        with torch.enable_grad():
            for i in range(0, len(x), batch_size):
                out = model(x[i:i + batch_size])
                # A summed loss makes each example's output gradient its own gradient (a mean would scale it by 1/N).
                loss = F.cross_entropy(out, y[i:i + batch_size], reduction="sum")
                grads = torch.autograd.grad(loss, [store[name][1] for name, _ in layers])
                for (name, m), g in zip(layers, grads):
                    w, b = _square_grads(m, store[name][0], g)
                    acc[f"{name}.weight"] = acc[f"{name}.weight"] + w if f"{name}.weight" in acc else w
                    if b is not None:
                        acc[f"{name}.bias"] = acc[f"{name}.bias"] + b if f"{name}.bias" in acc else b
                store.clear()
    finally:
        for h in handles:
            h.remove()
    return {k: v / len(x) for k, v in acc.items()}


def fit_linear_probe(features: torch.Tensor, y: torch.Tensor, num_classes: int, weight_decay: float = 1e-4,
                     max_iter: int = 100) -> nn.Linear:
    """Multinomial logistic regression on frozen features (L-BFGS, full batch, from zeros: deterministic, no seed)."""
    head = nn.Linear(features.shape[1], num_classes)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    opt = torch.optim.LBFGS(head.parameters(), max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(head(features), y) + weight_decay * head.weight.pow(2).sum()
        loss.backward()
        return loss
    with torch.enable_grad():
        opt.step(closure)
    return head.requires_grad_(False)


def with_head(model: nn.Module, head: nn.Linear) -> nn.Module:
    """A copy of a dictionary network with its classifier replaced (for probing a source network on a target)."""
    out = copy.deepcopy(model)
    out.head = head.requires_grad_(True)
    return out
