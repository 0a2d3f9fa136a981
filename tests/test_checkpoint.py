import pytest
import torch

from edgecv.loaders.checkpoint import load_model, save_checkpoint
from edgecv.errors import EdgecvError
from edgecv.models import create_model, default_spec


@pytest.fixture()
def model():
    torch.manual_seed(0)
    return create_model("simple_cnn", num_classes=4).eval()


def _same(a, b):
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x))


def test_edgecv_checkpoint_round_trip_is_weights_only(tmp_path, model):
    spec = default_spec("simple_cnn", num_classes=4, labels=["a", "b", "c", "d"])
    p = save_checkpoint(tmp_path / "m.pt", model, spec)
    raw = torch.load(p, weights_only=True)
    assert raw["format"] == "edgecv.checkpoint" and raw["arch"] == "simple_cnn"
    lm = load_model(p)
    assert lm.kind == "edgecv" and lm.spec.labels == ["a", "b", "c", "d"]
    _same(model, lm.model)


def test_bare_state_dict_nested_with_dataparallel_prefix(tmp_path, model):
    sd = {"module." + k: v for k, v in model.state_dict().items()}
    torch.save({"epoch": 29, "model": sd}, tmp_path / "model-29.pth")
    lm = load_model(tmp_path / "model-29.pth", arch="simple_cnn", num_classes=4)
    assert lm.kind == "state_dict"
    _same(model, lm.model)


def test_bare_state_dict_without_arch_suggests_matching_entries(tmp_path, model):
    torch.save(model.state_dict(), tmp_path / "sd.pth")
    with pytest.raises(EdgecvError, match="--arch") as e:
        load_model(tmp_path / "sd.pth")
    assert "simple_cnn" in str(e.value)


def test_state_dict_that_does_not_fit_names_keys(tmp_path, model):
    torch.save(model.state_dict(), tmp_path / "sd.pth")
    with pytest.raises(EdgecvError, match="mis-shaped fc2.weight"):
        load_model(tmp_path / "sd.pth", arch="simple_cnn", num_classes=7)
    with pytest.raises(EdgecvError, match="missing"):
        load_model(tmp_path / "sd.pth", arch="resnet18")


def test_torchscript_and_exported_program(tmp_path, model):
    ts = tmp_path / "m.ts"
    torch.jit.save(torch.jit.trace(model, torch.randn(1, 3, 32, 32)), ts)
    lm = load_model(ts)
    assert lm.kind == "torchscript"
    _same(model, lm.model)
    ep = torch.export.export(model, (torch.randn(2, 3, 32, 32),))
    torch.export.save(ep, tmp_path / "m.pt2")
    lm = load_model(tmp_path / "m.pt2")
    assert lm.kind == "exported_program"
    _same(model, lm.model)


def test_pickled_module_needs_unsafe_flag(tmp_path, model):
    torch.save(model, tmp_path / "whole.pt")
    with pytest.raises(EdgecvError, match="--unsafe-load"):
        load_model(tmp_path / "whole.pt")
    lm = load_model(tmp_path / "whole.pt", unsafe=True, arch="simple_cnn")
    _same(model, lm.model)


def test_bad_files_get_one_line(tmp_path, model):
    p = save_checkpoint(tmp_path / "m.pt", model, default_spec("simple_cnn", num_classes=4))
    data = p.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.pt").write_text("hello")
    for bad in ["trunc.pt", "text.pt", "missing.pt"]:
        with pytest.raises(EdgecvError) as e:
            load_model(tmp_path / bad)
        assert "\n" not in str(e.value)
    torch.save(model.state_dict(), tmp_path / "sd.pth")
    with pytest.raises(EdgecvError, match="unknown arch 'resnet_18'.*resnet18"):
        load_model(tmp_path / "sd.pth", arch="resnet_18")


def test_atomic_write_keeps_old_file_on_failure(tmp_path, model):
    from edgecv.fileio import atomic_write

    target = tmp_path / "keep.pt"
    target.write_bytes(b"good")

    def boom(tmp):
        open(tmp, "wb").write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(EdgecvError, match="No space"):
        atomic_write(target, boom)
    assert target.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.pt"]


def test_save_refuses_a_spec_that_cannot_rebuild_the_model(tmp_path):
    m = create_model("odconv_resnet18", num_classes=3, kernel_num=4)
    with pytest.raises(EdgecvError, match="model_kwargs"):
        save_checkpoint(tmp_path / "x.pt", m, default_spec("odconv_resnet18", num_classes=3))
    assert not list(tmp_path.iterdir())


def test_modules_that_version_their_state_dict_round_trip(tmp_path):
    """torchvision's MNASNet raises on load without state_dict metadata (found by the verify sweep)."""
    m = create_model("mnasnet0_5", num_classes=3).eval()
    lm = load_model(save_checkpoint(tmp_path / "m.pt", m, default_spec("mnasnet0_5", num_classes=3)))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(m(x), lm.model(x))
    r = create_model("regnet_x_400mf", num_classes=3)  # its builder cannot run on the meta device
    assert load_model(save_checkpoint(tmp_path / "r.pt", r, default_spec("regnet_x_400mf", num_classes=3)))
    plain = dict(m.state_dict())  # what many training scripts end up saving
    torch.save({"model": plain}, tmp_path / "plain.pth")
    assert load_model(tmp_path / "plain.pth", arch="mnasnet0_5", num_classes=3).kind == "state_dict"
