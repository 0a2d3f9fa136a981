"""One test over the whole registry: forward shape, one optimiser step lowers the loss, and a
state_dict round trip gives identical outputs."""
import pytest
import torch

from edgecv.models import create_model, get_entry, list_models


def _params(name):
    entry = get_entry(name)
    marks = [pytest.mark.slow] if "large" in entry.tags else []
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
    torch.manual_seed(0)
    x, kwargs = _input(name)
    model = create_model(name, num_classes=5, **kwargs)
    y = torch.tensor([0, 1, 2, 3])

    def loss_now():
        torch.manual_seed(1)  # same dropout / stochastic-depth masks for both evaluations
        return torch.nn.functional.cross_entropy(_logits(model(x)), y)

    model.train()
    before = loss_now()
    assert _logits(model(x)).shape == (4, 5)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    opt.zero_grad()
    before.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # a small step: first order must win
    opt.step()
    with torch.no_grad():
        after = loss_now()
    assert after.item() < before.item(), f"{name}: loss {before.item():.5f} -> {after.item():.5f}"

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


def test_timm_models_by_name():
    pytest.importorskip("timm")
    m = create_model("timm/resnet10t", num_classes=3).eval()
    assert m(torch.randn(1, 3, 64, 64)).shape == (1, 3)
