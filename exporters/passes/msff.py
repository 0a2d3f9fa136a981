"""Fold multi-scale feature fusion blocks (parallel 1x1/3x3/5x5/7x7 convs, summed) into one conv.

The branches are linear, see the same input with 'same' padding and stride 1, and are summed, so
their sum is one KxK conv (K = largest kernel) whose weight is every branch kernel zero-padded to
KxK and added, and whose bias is the sum of the biases.  Four Conv nodes and three Adds become one
Conv.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import nn

BRANCHES = ("conv1x1", "conv3x3", "conv5x5", "conv7x7")


def _foldable(m: nn.Module) -> bool:
    convs = [getattr(m, b, None) for b in BRANCHES]
    if not all(isinstance(c, nn.Conv2d) for c in convs) or len(list(m.children())) != len(BRANCHES):
        return False
    ref = convs[0]
    return all(c.in_channels == ref.in_channels and c.out_channels == ref.out_channels
               and c.stride == (1, 1) and c.dilation == (1, 1) and c.groups == ref.groups
               and c.padding_mode == "zeros"
               and c.padding == (c.kernel_size[0] // 2, c.kernel_size[1] // 2)
               and c.kernel_size[0] == c.kernel_size[1] and c.kernel_size[0] % 2 == 1
               for c in convs)


def fold_conv_sum(convs: list[nn.Conv2d]) -> nn.Conv2d:
    """One conv equal to the sum of 'same'-padded, stride-1 convs over the same input."""
    k = max(c.kernel_size[0] for c in convs)
    ref = convs[0]
    out = nn.Conv2d(ref.in_channels, ref.out_channels, k, padding=k // 2, groups=ref.groups, bias=True)
    weight = 0
    bias = 0
    for c in convs:
        p = (k - c.kernel_size[0]) // 2
        weight = weight + F.pad(c.weight.detach(), (p, p, p, p))
        if c.bias is not None:
            bias = bias + c.bias.detach()
    out.weight.data.copy_(weight)
    out.bias.data.copy_(bias if not isinstance(bias, int) else 0)
    return out.to(ref.weight.device, ref.weight.dtype)


def fold_msff(model: nn.Module) -> int:
    """Replace every MSFF-shaped block (in place) by one conv; returns the count."""
    targets = [(name, m) for name, m in model.named_modules() if name and _foldable(m)]
    for name, m in targets:
        parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
        setattr(parent, name.rpartition(".")[2], fold_conv_sum([getattr(m, b) for b in BRANCHES]))
    return len(targets)
