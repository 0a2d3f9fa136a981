import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgecv.exporters.passes.msff import fold_msff
from edgecv.exporters.passes.sdpa import fold_sdpa_batch_dims
from edgecv.models import create_model
from helpers import export_proto, ort_run, rel_err


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
