"""Architecture facts the zoo promises beyond 'it trains'."""
import torch

from edgecv.models import create_model
from edgecv.models.bilinear import BilinearPool


def test_odconv_state_dict_keys_match_official_implementation():
    # Key names of OSVAI/ODConv od_resnet18 (kernel_num=4) for the first block, as the official
    # code names them, so weights trained there load unchanged.
    sd = create_model("odconv_resnet18", num_classes=10, kernel_num=4).state_dict()
    expected = {
        "conv1.weight": (64, 3, 7, 7),
        "layer1.0.conv1.weight": (4, 64, 64, 3, 3),
        "layer1.0.conv1.attention.fc.weight": (16, 64, 1, 1),
        "layer1.0.conv1.attention.bn.running_mean": (16,),
        "layer1.0.conv1.attention.channel_fc.weight": (64, 16, 1, 1),
        "layer1.0.conv1.attention.channel_fc.bias": (64,),
        "layer1.0.conv1.attention.filter_fc.weight": (64, 16, 1, 1),
        "layer1.0.conv1.attention.spatial_fc.weight": (9, 16, 1, 1),
        "layer1.0.conv1.attention.kernel_fc.weight": (4, 16, 1, 1),
        "layer2.0.downsample.0.weight": (128, 64, 1, 1),
        "layer2.0.downsample.1.running_var": (128,),
        "layer4.1.conv2.attention.fc.weight": (32, 512, 1, 1),
        "fc.weight": (10, 512),
    }
    for k, shape in expected.items():
        assert tuple(sd[k].shape) == shape, k
    # kernel_num=1 has no kernel_fc; 1x1 ODConv (bottleneck) has no spatial_fc
    sd1 = create_model("odconv_resnet50", num_classes=10, kernel_num=1).state_dict()
    assert "layer1.0.conv1.attention.kernel_fc.weight" not in sd1
    assert "layer1.0.conv1.attention.spatial_fc.weight" not in sd1
    assert "layer1.0.conv2.attention.spatial_fc.weight" in sd1


def test_odconv_attention_is_per_sample():
    # The same image gives the same output whatever else is in the batch: the dynamic kernel is
    # aggregated per sample, not per batch.
    m = create_model("odconv_resnet18", num_classes=4, kernel_num=4).eval()
    a, b = torch.randn(1, 3, 32, 32), torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        alone = m(a)
        together = m(torch.cat([a, b]))[:1]
    torch.testing.assert_close(alone, together, rtol=1e-4, atol=1e-5)


def test_bilinear_pool_is_pooled_outer_product_with_signed_sqrt_and_l2():
    a = torch.randn(2, 3, 4, 5)
    b = torch.randn(2, 6, 4, 5)
    got = BilinearPool(eps=0)(a, b)
    ref = torch.einsum("nchw,ndhw->ncd", a, b) / 20
    ref = ref.reshape(2, -1)
    ref = torch.sign(ref) * ref.abs().sqrt()
    ref = ref / ref.norm(dim=1, keepdim=True)
    torch.testing.assert_close(got, ref)
    assert torch.allclose(got.norm(dim=1), torch.ones(2))


def test_default_spec_follows_in_chans():
    from edgecv.models import default_spec

    gray = default_spec("fusion_cnn")
    assert gray.channel_order == "GRAY" and gray.mean == (0.5,)
    rgb = default_spec("fusion_cnn", model_kwargs={"in_chans": 3})
    assert rgb.channel_order == "RGB" and rgb.mean == (0.5, 0.5, 0.5)


def test_fusion_cnn_concatenates_shallow_and_deep_features():
    m = create_model("fusion_cnn", num_classes=10).eval()
    x = torch.randn(3, 1, 28, 28)
    assert m.shallow(x).shape == (3, 128) and m.deep(x).shape == (3, 256)
    assert m.head[0].in_features == 384


def test_adaptive_loss_focuses_on_hard_examples_and_balances_classes():
    from edgecv.training.losses import AdaptiveLoss

    easy = torch.tensor([[5.0, 0.0]])
    hard = torch.tensor([[0.0, 0.5]])
    t = torch.tensor([0])
    plain = AdaptiveLoss(gamma=0.0, alpha=1.0)
    focal = AdaptiveLoss(gamma=2.0, alpha=1.0)
    ce = torch.nn.functional.cross_entropy
    torch.testing.assert_close(plain(easy, t), ce(easy, t))
    # focal down-weights the easy example far more than the hard one
    assert focal(easy, t) / ce(easy, t) < focal(hard, t) / ce(hard, t)
    bal = AdaptiveLoss(gamma=0.0, alpha=1.0, class_counts=[1000, 10])
    assert bal.class_weights[1] > bal.class_weights[0]
    logits = torch.randn(8, 2, requires_grad=True)
    bal(logits, torch.randint(0, 2, (8,))).backward()
    assert logits.grad is not None


def test_torchvision_vits_are_built_at_the_size_their_default_spec_says():
    """vit_h_14's default weights take 518 px: a model built at torchvision's 224 failed its own spec
    (found by benchmarks/coverage.py)."""
    import torch

    from edgecv.models import create_model, default_spec, list_models

    vits = [n for n in list_models() if n.startswith("vit_")]
    assert "vit_h_14" in vits
    for name in vits:
        with torch.device("meta"):  # no weights allocated: vit_h_14 has 632 M parameters
            model = create_model(name, num_classes=3)
        assert (model.image_size, model.image_size) == default_spec(name, num_classes=3).input_size, name
