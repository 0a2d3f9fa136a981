import torch

from edgecv.loaders.checkpoint import load_model
from edgecv.training.train import TrainConfig, train


def test_simple_cnn_learns_digits(tmp_path):
    r = train(TrainConfig(data="digits", arch="simple_cnn", out=tmp_path / "d.pt", epochs=6, seed=0))
    assert r.best_acc >= 0.95, r.history
    lm = load_model(tmp_path / "d.pt")
    assert lm.spec.channel_order == "GRAY" and lm.spec.input_size == (28, 28)
    assert lm.spec.labels == [str(i) for i in range(10)]
    assert abs(lm.meta["val_acc"] - r.best_acc) < 1e-12


def test_training_is_reproducible_with_a_seed(tmp_path):
    cfgs = [TrainConfig(data="digits", arch="simple_cnn_bn", out=tmp_path / f"{i}.pt", epochs=1, seed=3,
                        loss="adaptive") for i in range(2)]
    results = [train(c) for c in cfgs]
    assert results[0].history == results[1].history
    a, b = (torch.load(c.out, weights_only=True)["state_dict"] for c in cfgs)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_freeze_backbone_trains_only_the_head(tmp_path):
    r = train(TrainConfig(data="digits", arch="fusion_cnn", out=tmp_path / "f.pt", epochs=1, seed=0,
                          freeze_backbone=True, augment=False))
    init = torch.load(tmp_path / "f.pt", weights_only=True)["state_dict"]
    torch.manual_seed(0)
    from edgecv.models import create_model

    fresh = create_model("fusion_cnn", num_classes=10, in_chans=1, img_size=28).state_dict()
    assert torch.equal(init["shallow.0.0.weight"], fresh["shallow.0.0.weight"])
    assert not torch.equal(init["head.3.weight"], fresh["head.3.weight"])
    assert r.best_acc > 0.1


def test_image_folder_training(tmp_path):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ["train", "val"]:
        for label, value in [("dark", 40), ("light", 210)]:
            d = tmp_path / "data" / split / label
            d.mkdir(parents=True)
            for i in range(8):
                arr = np.clip(rng.normal(value, 20, (40, 48, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(arr).save(d / f"{i}.png")
    r = train(TrainConfig(data=str(tmp_path / "data"), arch="simple_cnn", out=tmp_path / "f.pt",
                          epochs=3, img_size=32, batch_size=8))
    assert r.best_acc == 1.0
    assert load_model(tmp_path / "f.pt").spec.labels == ["dark", "light"]
