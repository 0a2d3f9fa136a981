"""The ODConv rewrite: exact, batch-agnostic, and still needed (the naive export really fails)."""
import copy
import itertools

import numpy as np
import pytest
import torch
from torch import nn

from edgecv.exporters.passes.odconv import MODES, ODConv2dExport, rewrite_odconv
from edgecv.models.odconv import ODConv2d
from helpers import export_proto, ort_run, rel_err

CONFIGS = list(itertools.product([1, 4], [1, 3, 5], [1, 2], [1, 4]))  # kernel_num, k, stride, groups


def _layer(kernel_num, k, stride, groups, cin=8, cout=16):
    torch.manual_seed(kernel_num * 100 + k * 10 + stride + groups)
    m = ODConv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, kernel_num=kernel_num).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics in the attention
        m.attention.bn.running_mean.uniform_(-0.5, 0.5)
        m.attention.bn.running_var.uniform_(0.5, 2.0)
    return m


@pytest.mark.float_kernels
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kernel_num,k,stride,groups", CONFIGS)
def test_rewrite_matches_upstream_eager(mode, kernel_num, k, stride, groups):
    m = _layer(kernel_num, k, stride, groups)
    new = ODConv2dExport(m, mode).eval()
    x = torch.randn(3, 8, 11, 13)
    with torch.no_grad():
        assert rel_err(m(x).numpy(), new(x).numpy()) <= 1e-6


# Exported per mode: each kernel size, a stride-2 and a grouped layer (every combination is held exact
# in eager by test_rewrite_matches_upstream_eager; each export costs seconds of tracing per layer).
EXPORTED = [(1, 1, 1), (3, 2, 4), (5, 1, 1)]  # (k, stride, groups)


class Stack(nn.Module):
    """One ODConv layer per EXPORTED configuration, chained."""

    def __init__(self, kernel_num):
        super().__init__()
        layers = []
        for k, stride, groups in EXPORTED:
            layers += [_layer(kernel_num, k, stride, groups, cin=8, cout=8), nn.BatchNorm2d(8)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x).mean(dim=(2, 3))


@pytest.mark.parametrize("mode,kernel_num", [(m, 4) for m in MODES] + [("scan", 1)])  # kernel_num 1: no kernel attention
def test_exported_rewrite_is_exact_at_batch_1_2_7(mode, kernel_num):
    ref = Stack(kernel_num).eval()
    model = copy.deepcopy(ref)
    assert rewrite_odconv(model, mode) == len(EXPORTED)
    proto = export_proto(model, torch.randn(2, 8, 24, 24))
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param
    ops = {n.op_type for n in proto.graph.node}
    if mode == "scan" and kernel_num == 4:
        assert "Scan" in ops
    if mode == "static-mix":  # every Conv weight is a constant initializer (TensorRT needs that)
        inits = {i.name for i in proto.graph.initializer}
        assert all(n.input[1] in inits for n in proto.graph.node if n.op_type == "Conv")
    for b in (1, 2, 7):
        x = torch.randn(b, 8, 24, 24)
        with torch.no_grad():
            expected = ref(x).numpy()
        assert rel_err(expected, ort_run(proto, x.numpy())) <= 1e-5


def test_temperature_is_reset_to_inference_value():
    m = nn.Sequential(_layer(4, 3, 1, 1))
    m[0].update_temperature(30.0)
    rewrite_odconv(m, "unfold")
    assert m[0].attention.temperature == 1.0


def test_naive_export_really_fails():
    """If this starts passing, torch learned to export ODConv as is and the rewrite can go."""
    torch.manual_seed(0)
    m = nn.Sequential(_layer(4, 3, 1, 1)).eval()
    x = torch.randn(2, 8, 12, 12)
    with pytest.raises(Exception, match="Unsupported attribute type|SymbolicTensor"):
        export_proto(m, x, dynamic=True, exporter="dynamo")
    with pytest.raises(Exception, match="kernel of unknown shape"):
        export_proto(m, x, dynamic=True, exporter="torchscript")
    # A static-batch export bakes the batch into Conv `group` and the reshapes: batch 3 fails.
    proto = export_proto(m, x, dynamic=False, exporter="torchscript")
    ort_run(proto, x.numpy())
    with pytest.raises(Exception):
        ort_run(proto, np.random.randn(3, 8, 12, 12).astype(np.float32))
