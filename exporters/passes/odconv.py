"""Export-time rewrite of ODConv2d into batch-agnostic, numerically equivalent formulations.

The upstream forward folds the batch into the conv groups (``groups = groups * N``), which ONNX
cannot express with a dynamic batch (Conv ``group`` is a static attribute).  Every module with the
official interface (``attention``, 5-D ``weight`` (K, O, C/g, k, k), ``kernel_num``, ``groups``) is
replaced by :class:`ODConv2dExport` in one of three modes:

- ``scan``: per-sample convolution with the aggregated kernel, emitted as an ONNX ``Scan`` over
  the batch (dynamo exporter; see ``edgecv.exporters.scan_conv``).  Fastest on ONNX Runtime.
- ``unfold``: im2col (a grouped Conv with one-hot constant kernels) + per-sample batched MatMul.
  Any exporter.
- ``static-mix``: spatial attention applied to the unfolded input, one ordinary 1x1 Conv whose
  weight is the K stacked kernels (a constant), then the kernel-attention weighted sum.  Every Conv
  weight is an initializer, which TensorRT needs.

Run it on an ``eval()`` model after the weights are loaded.  The attention temperature is a plain
float baked into the graph; it is set to 1.0 (the inference value) unless given.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MODES = ("scan", "unfold", "static-mix")


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (int(v), int(v))


def is_odconv(m: nn.Module) -> bool:
    w = getattr(m, "weight", None)
    return (hasattr(m, "attention") and hasattr(m, "kernel_num") and hasattr(m, "groups")
            and isinstance(w, torch.Tensor) and w.ndim == 5 and w.shape[0] == m.kernel_num)


def patch_kernel(channels: int, k: int) -> torch.Tensor:
    """One-hot kernels (C*k*k, 1, k, k): a grouped conv with them is im2col, exactly (x*1 + 0s)."""
    eye = torch.eye(k * k).reshape(k * k, 1, k, k)
    return eye.repeat(channels, 1, 1, 1)


def unfold(x, kernel, k, stride, padding, dilation):
    """im2col: (N, C, H, W) -> (N, C, k*k, Ho, Wo) as one grouped Conv with one-hot constant
    weights.  Exports as a single Conv node with both exporters, runs fast in ONNX Runtime, and
    keeps every Conv weight a constant (TensorRT).  ``F.unfold`` exported to a much slower graph."""
    n, c = x.shape[:2]
    cols = F.conv2d(x, kernel, None, stride, padding, dilation, c)
    return cols.reshape(n, c, k * k, cols.shape[-2], cols.shape[-1])


class ODConv2dExport(nn.Module):
    """Drop-in replacement of one ODConv2d with a batch-agnostic forward."""

    def __init__(self, od: nn.Module, mode: str):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"odconv mode {mode!r} is not one of {MODES}")
        self.mode = mode
        self.attention = od.attention
        self.weight = od.weight
        self.k = int(od.weight.shape[-1])
        self.kernel_num = int(od.kernel_num)
        self.groups = int(od.groups)
        self.out_planes = int(od.weight.shape[1])
        self.in_per_group = int(od.weight.shape[2])
        self.stride, self.padding, self.dilation = _pair(od.stride), _pair(od.padding), _pair(od.dilation)
        if mode != "scan":
            cin = self.in_per_group * self.groups
            self.register_buffer("patches", patch_kernel(cin, self.k).to(od.weight.dtype), persistent=False)
        if mode == "static-mix":
            g, kn, og = self.groups, self.kernel_num, self.out_planes // self.groups
            w = od.weight.detach().reshape(kn, g, og, self.in_per_group * self.k * self.k)
            self.register_buffer("stacked", w.permute(1, 0, 2, 3).reshape(g * kn * og, -1, 1, 1).contiguous())

    def forward(self, x):
        channel, filt, spatial, kernel = self.attention(x)
        x = x * channel
        if self.k == 1 and self.kernel_num == 1:  # static point-wise conv: nothing dynamic
            out = F.conv2d(x, self.weight[0], None, self.stride, self.padding, self.dilation, self.groups)
        elif self.mode == "static-mix":
            out = self._static_mix(x, spatial, kernel)
        else:
            agg = self._aggregate(spatial, kernel, x.shape[0])
            out = self._scan(x, agg) if self.mode == "scan" else self._unfold(x, agg)
        return out * filt

    def _aggregate(self, spatial, kernel, n):
        """Per-sample kernel (N, O, C/g, k, k) = spatial * sum_i kernel_i * W_i.

        Upstream broadcasts a 6-D (N, K, O, C/g, k, k) product and sums it; the kernel-attention
        sum is an (N, K) @ (K, O*C/g*k*k) MatMul, and the spatial attention, the same for every
        kernel i, factors out of the sum.  Equal up to float reassociation, and far less memory
        traffic (the 6-D temporary is K times the size of the result)."""
        kk = self.k * self.k
        w = self.weight.reshape(self.kernel_num, -1)
        if isinstance(kernel, torch.Tensor):
            agg = torch.matmul(kernel.reshape(n, self.kernel_num), w)
        else:
            agg = w.expand(n, -1)
        agg = agg.reshape(n, self.out_planes, self.in_per_group, kk)
        if isinstance(spatial, torch.Tensor):
            agg = agg * spatial.reshape(n, 1, 1, kk)
        return agg.reshape(n, self.out_planes, self.in_per_group, self.k, self.k)

    def _scan(self, x, agg):
        from edgecv.exporters.scan_conv import per_sample_conv2d

        return per_sample_conv2d(x, agg, list(self.stride), list(self.padding), list(self.dilation),
                                 self.groups)

    def _unfold(self, x, agg):
        n, g = x.shape[0], self.groups
        cols = unfold(x, self.patches, self.k, self.stride, self.padding, self.dilation)  # N,C,kk,Ho,Wo
        ho, wo = cols.shape[-2:]
        cols = cols.reshape(n, g, -1, ho * wo)
        w = agg.reshape(n, g, self.out_planes // g, -1)
        return torch.matmul(w, cols).reshape(n, self.out_planes, ho, wo)

    def _static_mix(self, x, spatial, kernel):
        n, g, kn = x.shape[0], self.groups, self.kernel_num
        cols = unfold(x, self.patches, self.k, self.stride, self.padding, self.dilation)  # N,C,kk,Ho,Wo
        ho, wo = cols.shape[-2:]
        if isinstance(spatial, torch.Tensor):
            cols = cols * spatial.reshape(n, 1, self.k * self.k, 1, 1)
        y = F.conv2d(cols.reshape(n, -1, ho, wo), self.stacked, None, 1, 0, 1, g)  # N, g*K*Og, Ho, Wo
        y = y.reshape(n, g, kn, self.out_planes // g, ho, wo)
        if isinstance(kernel, torch.Tensor):
            y = y * kernel.reshape(n, 1, kn, 1, 1, 1)
        return y.sum(dim=2).reshape(n, self.out_planes, ho, wo)


def rewrite_odconv(model: nn.Module, mode: str = "scan", temperature: float | None = 1.0) -> int:
    """Replace every ODConv-like module in ``model`` (in place); returns how many were replaced."""
    if mode not in MODES:
        raise ValueError(f"odconv mode {mode!r} is not one of {MODES}")
    targets = [(name, m) for name, m in model.named_modules() if is_odconv(m)]
    for name, m in targets:
        if temperature is not None:
            if hasattr(m, "update_temperature"):
                m.update_temperature(temperature)
            elif hasattr(m.attention, "temperature"):
                m.attention.temperature = temperature
        parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
        new = ODConv2dExport(m, mode)
        if name:
            setattr(parent, name.rpartition(".")[2], new)
    return len(targets)
