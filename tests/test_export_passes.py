import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgecv.exporters.passes.msff import fold_msff
from edgecv.exporters.passes.sdpa import fold_sdpa_batch_dims
from edgecv.models import create_model
from helpers import export_proto, ort_run, rel_err


@pytest.mark.float_kernels
def test_msff_folds_into_one_conv_exactly_with_fewer_nodes():
    torch.manual_seed(0)
    ref = create_model("odconv_msff_net", num_classes=43).eval()
    folded = copy.deepcopy(ref)
    assert fold_msff(folded) == 1
    assert isinstance(folded.msff, nn.Conv2d) and folded.msff.kernel_size == (7, 7)
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        assert rel_err(ref(x).numpy(), folded(x).numpy()) <= 1e-5
    plain = create_model("msff", num_classes=10).eval()
    before = export_proto(plain, torch.randn(2, 3, 32, 32))
    after_model = copy.deepcopy(plain)
    fold_msff(after_model)
    after = export_proto(after_model, torch.randn(2, 3, 32, 32))
    convs = lambda p: sum(n.op_type == "Conv" for n in p.graph.node)  # noqa: E731
    assert convs(after) == convs(before) - 3
    assert len(after.graph.node) < len(before.graph.node)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert rel_err(plain(x).numpy(), ort_run(after, x.numpy())) <= 1e-5


class WindowAttention5D(nn.Module):
    """Attention on (B, windows, heads, tokens, dim), the shape twins_svt / nest use."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(16, 48)

    def forward(self, x):  # x: (B, 4 windows, 9 tokens, 16)
        b, w, t, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, w, t, 3, 2, 8).permute(3, 0, 1, 4, 2, 5).unbind(0)
        o = F.scaled_dot_product_attention(q, k, v)  # 5-D
        return o.transpose(2, 3).reshape(b, w, t, 16).mean(dim=(1, 2))


def test_sdpa_5d_fails_without_the_pass_and_is_exact_with_it():
    torch.manual_seed(0)
    m = WindowAttention5D().eval()
    x = torch.randn(2, 4, 9, 16)
    with pytest.raises(Exception, match="only 4D"):
        export_proto(m, x)
    with fold_sdpa_batch_dims():
        proto = export_proto(m, x)
    assert F.scaled_dot_product_attention.__name__ == "scaled_dot_product_attention"  # restored
    x3 = torch.randn(3, 4, 9, 16)
    with torch.no_grad():
        assert rel_err(m(x3).numpy(), ort_run(proto, x3.numpy())) <= 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("name", ["timm/twins_svt_small", "timm/nest_tiny"])
def test_timm_5d_attention_models_export(name, tmp_path):
    pytest.importorskip("timm")
    from edgecv.loaders.checkpoint import save_checkpoint
    from edgecv.exporters.onnx_export import ExportOptions, export_onnx
    from edgecv.models import default_spec

    m = create_model(name, num_classes=5).eval()
    ck = save_checkpoint(tmp_path / "m.pt", m, default_spec(name, num_classes=5))
    res = export_onnx(ck, ExportOptions())
    assert res.validation.ok


def _pads(proto, node):
    """The pad amounts of a Pad node (its second input, a constant or an initializer)."""
    import onnx

    name = node.input[1]
    for init in proto.graph.initializer:
        if init.name == name:
            return onnx.numpy_helper.to_array(init)
    for n in proto.graph.node:
        if n.op_type == "Constant" and n.output[0] == name:
            return onnx.numpy_helper.to_array(n.attribute[0].t)
    return np.ones(1)  # computed at run time: counted as padding


def _tiny_swin(stages: int = 2):
    """torchvision's SwinTransformer at test size: a stage has a plain and a shifted-window block;
    two stages add a patch merging (padded when the map is odd)."""
    from torchvision.models.swin_transformer import SwinTransformer

    torch.manual_seed(0)
    return SwinTransformer(patch_size=[2, 2], embed_dim=24, depths=[2] * stages, num_heads=[2, 4][:stages],
                           window_size=[4, 4], num_classes=10, stochastic_depth_prob=0.0).eval()


def test_swin_token_order_is_the_roll_and_window_partition():
    from edgecv.exporters.passes.swin import token_order

    for (h, w, wh, ww, sh, sw) in [(8, 8, 4, 4, 2, 2), (12, 8, 4, 4, 0, 0), (14, 21, 7, 7, 3, 3)]:
        grid = torch.arange(h * w).view(1, h, w, 1)
        rolled = torch.roll(grid, shifts=(-sh, -sw), dims=(1, 2))
        windows = rolled.view(1, h // wh, wh, w // ww, ww, 1).permute(0, 1, 3, 2, 4, 5).reshape(-1)
        order, inverse = token_order(h, w, wh, ww, sh, sw)
        assert order.tolist() == windows.tolist()
        assert order[inverse].tolist() == list(range(h * w))


@pytest.mark.float_kernels
@pytest.mark.parametrize("size", [32, 36])  # 36: feature maps 18 and 9 are padded to the window
def test_swin_windows_pass_is_exact_in_eager(size):
    from edgecv.exporters.passes.swin import swin_windows

    model = _tiny_swin(stages=2)
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        ref = model(x)
        with swin_windows():
            got = model(x)
    assert torch.allclose(ref, got, atol=1e-5, rtol=1e-5)


def test_swin_windows_pass_exports_fewer_data_moves():
    """Exported with and without the pass (one stage: its plain and shifted-window blocks, on a map of
    18 x 18 padded to the window; each export costs seconds of tracing)."""
    from edgecv.exporters.passes.swin import swin_windows

    model = _tiny_swin(stages=1)
    x = torch.randn(2, 3, 36, 36)
    with torch.no_grad():
        ref = model(x)
    plain = export_proto(model, x)
    with swin_windows():
        windows = export_proto(model, x)
    ops = lambda p, t: sum(n.op_type == t for n in p.graph.node)  # noqa: E731
    assert rel_err(ref.numpy(), ort_run(windows, x.numpy())) <= 1e-4
    assert rel_err(ref[:1].numpy(), ort_run(windows, x[:1].numpy())) <= 1e-4  # the batch stays dynamic
    assert ops(windows, "Transpose") < ops(plain, "Transpose")
    assert ops(windows, "Concat") < ops(plain, "Concat")  # the rolls' Slice + Concat pairs are gone
    # torchvision pads every window partition (by zero where nothing needs padding); the pass emits
    # only pads that add pixels
    zero_pads = lambda p: sum(n.op_type == "Pad" and not _pads(p, n).any() for n in p.graph.node)  # noqa: E731
    assert zero_pads(windows) == 0 and ops(windows, "Pad") <= ops(plain, "Pad")
    assert len(windows.graph.node) < len(plain.graph.node)


class _ClampedLinear(nn.Linear):
    """timm's Gemma4ClippableLinear: input and output clamped by scalar buffers (+-inf until loaded)."""

    def __init__(self):
        super().__init__(16, 16)
        for name, v in (("input_min", -1e30), ("input_max", 1e30), ("output_min", -1e30), ("output_max", 1e30)):
            self.register_buffer(name, torch.tensor(v))

    def forward(self, x):
        x = torch.clamp(x, self.input_min, self.input_max)
        return torch.clamp(super().forward(x), self.output_min, self.output_max)


class _Clamped(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 8, stride=8)
        self.q, self.k, self.v = _ClampedLinear(), _ClampedLinear(), _ClampedLinear()
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        y = self.conv(x).mean((2, 3)) * 3.0
        return self.head(self.q(y) + self.k(y) * self.v(y))


def test_clamp_bounds_the_dynamo_exporter_leaves_unregistered_are_repaired(tmp_path, monkeypatch):
    """onnxscript's optimizer, run on the dynamo exporter's graph, gives clamps renamed copies of their
    buffer bounds that it never registers (the file reads a name nothing defines: "Nodes in a graph must
    be topologically sorted"); seen on timm/gemma4_vit_167m.  Export registers them and keeps the
    dynamo graph."""
    import onnx

    import edgecv
    from edgecv.exporters.trace import register_loose_constants

    torch.manual_seed(0)
    model = _Clamped().eval()
    prog = torch.onnx.export(model, (torch.randn(2, 3, 32, 32),), dynamo=True, optimize=True,
                             dynamic_shapes=({0: torch.export.Dim("batch")},))
    with pytest.raises(Exception, match="topologically sorted"):  # the upstream graph as it comes
        onnx.checker.check_model(prog.model_proto, full_check=True)
    assert register_loose_constants(prog.model) > 0
    onnx.checker.check_model(prog.model_proto, full_check=True)
    report = edgecv.export(model, tmp_path / "m.onnx", imgsz=(32, 32), say=lambda *a: None)
    res = report.onnx
    assert res.exporter == "dynamo" and not res.attempts, (res.exporter_note, res.attempts)
    assert res.validation.max_rel < 1e-4
    # unrepaired, the checker refuses dynamo's graph: the TorchScript exporter's is kept, the reason said
    import edgecv.exporters.trace as trace

    monkeypatch.setattr(trace, "register_loose_constants", lambda model: 0)
    res = edgecv.export(model, tmp_path / "m2.onnx", imgsz=(32, 32), say=lambda *a: None).onnx
    assert res.exporter == "torchscript" and res.validation.max_rel < 1e-4
    assert len(res.attempts) == 1 and "does not pass the ONNX checker" in res.attempts[0]
