"""One test over the whole registry: forward shape, the gradient is a descent direction, and a
state_dict round trip gives identical outputs."""
import pytest
import torch

from edgecv.models import create_model, get_entry, list_models


# `make test` trains every model of edgecv's own families (but the deeper ODConv ResNets, the same code
# as odconv_resnet18) and one torchvision model per way edgecv builds them: the plain builder, the
# one that takes the input size (ViT), the one that skips scipy's init (Inception), windowed attention,
# depthwise and squeeze-excite blocks.  Every other torchvision model is the same wrapper around
# torchvision's own code: `make test-all` trains them all (about 3 minutes more).
FAST_TORCHVISION = {"resnet18", "mobilenet_v3_small", "efficientnet_b0", "vit_b_16", "swin_t", "googlenet"}


def _params(name):
    entry = get_entry(name)
    fast = name in FAST_TORCHVISION if "torchvision" in entry.tags else name not in ("odconv_resnet34",
                                                                                       "odconv_resnet50")
    marks = [] if fast and "large" not in entry.tags else [pytest.mark.slow]
    if "torchvision" not in entry.tags:  # the descent check on edgecv's own layers (ODConv's sharp BatchNorm)
        marks.append(pytest.mark.float_kernels)
    return pytest.param(name, marks=marks, id=name)


def _input(name, batch=4):
    entry = get_entry(name)
    h, w = entry.cfg.test_input_size or entry.cfg.input_size
    c = 1 if entry.cfg.channel_order == "GRAY" else 3
    kwargs = {"img_size": h} if name.startswith("vit_") else {}
    return torch.randn(batch, c, h, w, generator=torch.Generator().manual_seed(0)), kwargs


def _logits(out):
    return out.logits if hasattr(out, "logits") else out


@pytest.mark.parametrize("name", [_params(n) for n in list_models()])
def test_model_trains_and_round_trips(name):
    """What every model guarantees for training: the forward shape, a finite gradient that reaches
    the parameters, and that the gradient is a descent direction (a small enough step against it
    lowers the loss).  "One fixed SGD step lowers the loss" is not such a guarantee: ODConv's
    attention BatchNorm over 1x1 pooled features makes the loss surface so sharp (gradient norm
    ~5e5 at init) that the fixed step overshoots on some CPUs' kernels.  So the step is searched,
    largest first, down to where first order must win."""
    torch.manual_seed(0)
    x, kwargs = _input(name)
    model = create_model(name, num_classes=5, **kwargs)
    y = torch.tensor([0, 1, 2, 3])

    def loss_now():
        torch.manual_seed(1)  # same dropout / stochastic-depth masks for every evaluation
        return torch.nn.functional.cross_entropy(_logits(model(x)), y)

    model.train()
    before = loss_now()
    assert _logits(model(x)).shape == (4, 5)
    before.backward()
    params = [p for p in model.parameters() if p.requires_grad]
    grads = [p.grad for p in params if p.grad is not None]
    assert grads, f"{name}: no parameter received a gradient"
    assert all(torch.isfinite(g).all() for g in grads), f"{name}: non-finite gradient"
    norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads)).item()
    assert norm > 0, f"{name}: the gradient is zero everywhere"
    start = [p.detach().clone() for p in params]
    tried = []
    with torch.no_grad():
        for step in (1e-3, 1e-4, 1e-5, 1e-6, 1e-7):  # parameter-space distance moved
            for p, p0 in zip(params, start):
                p.copy_(p0 if p.grad is None else p0 - (step / norm) * p.grad)
            tried.append((step, loss_now().item()))
            if tried[-1][1] < before.item():
                break
        for p, p0 in zip(params, start):
            p.copy_(p0)
    assert tried[-1][1] < before.item(), f"{name}: loss {before.item():.5f}, after steps {tried} (|grad| {norm:.3g})"

    model.eval()
    clone = create_model(name, num_classes=5, **kwargs).eval()
    clone.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(model(x[:2]), clone(x[:2]))


def test_registry_refuses_duplicates():
    from edgecv.models import register_model

    with pytest.raises(ValueError):
        register_model("resnet18")(lambda **k: None)


def test_unknown_arch_suggests_close_names():
    from edgecv.errors import EdgecvError

    with pytest.raises(EdgecvError, match="resnet18"):
        create_model("resnet_18")


def test_seed_architectures_are_registered():
    names = set(list_models())
    for n in ["simple_cnn", "simple_cnn_bn", "simple_cnn_dropout", "fusion_cnn", "bilinear_resnet34",
              "bilinear_vgg16", "odconv_resnet18", "odconv_resnet34", "odconv_resnet50", "msff",
              "odconv_msff_net", "resnet18", "mobilenet_v3_small", "efficientnet_b0", "vit_b_16",
              "swin_t", "swin_s"]:
        assert n in names


def test_the_catalog_lists_the_registry_without_importing_torch():
    """`edgecv models` reads the names from the source; they are the registry's."""
    import subprocess
    import sys

    from edgecv.catalog import match, model_names

    assert list(model_names()) == list_models()
    assert match("swin_v2", model_names()) == ["swin_v2_b", "swin_v2_s", "swin_v2_t"]
    assert match("odconv_resnet*", model_names()) == ["odconv_resnet18", "odconv_resnet34", "odconv_resnet50"]
    code = "import sys; from edgecv.catalog import model_names; model_names(); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_timm_models_by_name():
    pytest.importorskip("timm")
    m = create_model("timm/resnet10t", num_classes=3).eval()
    assert m(torch.randn(1, 3, 64, 64)).shape == (1, 3)
