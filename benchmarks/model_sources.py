"""Evidence for "any PyTorch model, faithfully": each way a user brings a model, exported and run
by the CLI as a user would, against that user's own torch pipeline (their transforms on PIL, the
eager model) on real photos, then `edgecv verify`.

    python benchmarks/model_sources.py [--out benchmarks/results/model_sources.md]

Weights are random (seeded): parity does not depend on training.  Photos: samples/photos plus
scikit-image's bundled photos.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from PIL import Image
from torchvision import transforms as T

ROOT = Path(__file__).resolve().parents[1]
USER = ROOT / "tests" / "user_models"
EDGECV = [sys.executable, "-c", "from edgecv.cli import main; main()"]


def photos(d: Path) -> list[Path]:
    from skimage import data

    out = sorted((ROOT / "samples" / "photos").glob("*.jpg"))
    for name in ("astronaut", "hubble_deep_field", "immunohistochemistry", "retina", "colorwheel", "cat", "horse"):
        p = d / f"sk_{name}.png"
        Image.fromarray(getattr(data, name)()).convert("RGB").save(p)
        out.append(p)
    return out


def edgecv(*args) -> subprocess.CompletedProcess:
    return subprocess.run([*EDGECV, *map(str, args)], capture_output=True, text=True)


def softmax_probs(model, tf, paths, already=False):
    x = torch.stack([tf(Image.open(p).convert("RGB")) for p in paths])
    with torch.inference_mode():
        y = model.eval()(x)
        y = y.logits if hasattr(y, "logits") else y[0] if isinstance(y, tuple) else y
    return (y if already else torch.softmax(y, 1)).numpy()


def sources(d: Path):
    """(name, the user's torch model, their transform, export args, output already probabilities)."""
    sys.path.insert(0, str(USER))
    import bilinear_net
    from edgecv.models import create_model

    torch.manual_seed(0)
    b = bilinear_net.bilinear_small(num_classes=5)
    torch.save({"model": {f"module.{k}": v for k, v in b.state_dict().items()}}, d / "model-29.pth")
    (d / "class_indices.json").write_text(json.dumps({str(i): n for i, n in
                                                      enumerate(["daisy", "dandelion", "roses", "sunflowers", "tulips"])}))
    tf_b = T.Compose([T.Resize((56, 56)), T.ToTensor(), T.Normalize([0.5] * 3, [0.25] * 3)])
    b_args = ["--model-file", f"{USER / 'bilinear_net.py'}:bilinear_small", "--resize", "56,56", "--imgsz", 56, 56,
              "--mean", 0.5, 0.5, 0.5, "--std", 0.25, 0.25, 0.25, "--interpolation", "bilinear",
              "--channel-order", "RGB", "--labels", d / "class_indices.json"]
    yield "own model.py (Bilinear CNN), nested state_dict", b, tf_b, [d / "model-29.pth", *b_args], False

    from safetensors.torch import save_file
    save_file(b.state_dict(), d / "bilinear.safetensors")
    yield ".safetensors + model.py", b, tf_b, [d / "bilinear.safetensors", *b_args], False

    od = create_model("odconv_resnet18", num_classes=10, kernel_num=4).eval()
    torch.save(od.state_dict(), d / "od_resnet18_4x.pth")
    tf_od = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                       T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    yield "ODConv 4x official-style state_dict", od, tf_od, [d / "od_resnet18_4x.pth", "--arch", "odconv_resnet18"], False

    p = bilinear_net.ProbNet(num_classes=3).eval()
    tf_p = T.Compose([T.Resize(55), T.CenterCrop(48), T.ToTensor(), T.Normalize([0.485, 0.456, 0.406],
                                                                                [0.229, 0.224, 0.225])])
    torch.jit.trace(p, torch.zeros(1, 3, 48, 48), strict=False).save(str(d / "probnet.torchscript"))
    yield "TorchScript (softmax output, 2 outputs)", p, tf_p, [d / "probnet.torchscript"], True
    torch.export.save(torch.export.export(p, (torch.zeros(1, 3, 48, 48),)), d / "probnet.pt2")
    yield ".pt2 (torch.export, batch 1)", p, tf_p, [d / "probnet.pt2"], True

    import transformers
    cfg = transformers.ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                                 num_attention_heads=2, intermediate_size=64, num_labels=3,
                                 id2label={0: "cat", 1: "dog", 2: "fox"}, label2id={"cat": 0, "dog": 1, "fox": 2})
    hf = transformers.ViTForImageClassification(cfg).eval()
    hf.save_pretrained(d / "hf_vit")
    transformers.ViTImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.5] * 3,
                                   image_std=[0.5] * 3).save_pretrained(d / "hf_vit")
    tf_hf = T.Compose([T.Resize((32, 32)), T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)])
    yield "Hugging Face directory (ViT)", hf, tf_hf, [d / "hf_vit"], False

    import timm
    from timm.data import create_transform, resolve_data_config
    tm = timm.create_model("resnet18", pretrained=False, num_classes=7).eval()
    torch.save(tm.state_dict(), d / "timm_resnet18.pth")
    yield "timm resnet18 state_dict", tm, create_transform(**resolve_data_config({}, model=tm)), \
        [d / "timm_resnet18.pth", "--arch", "timm/resnet18"], False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "model_sources.md")
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        pics = photos(d)
        for i, (name, model, tf, args, already) in enumerate(sources(d)):
            onnx = d / f"m{i}.onnx"
            ex = edgecv("export", *args, "-o", onnx)
            if ex.returncode != 0:
                rows.append((name, f"export failed: {ex.stderr.strip().splitlines()[-1]}", "", "", "", ""))
                continue
            run = edgecv("run", onnx, *pics, "--json", "--topk", "1")
            got = [json.loads(ln)["topk"][0] for ln in run.stdout.splitlines()]
            want = softmax_probs(model, tf, pics, already)
            agree = sum(g["index"] == int(w.argmax()) for g, w in zip(got, want))
            dprob = max(abs(g["prob"] - float(w.max())) for g, w in zip(got, want))
            ver = edgecv("verify", args[0], onnx, "--images", ROOT / "samples" / "photos", *args[1:])
            v = ver.stderr.strip().splitlines()[-1] if ver.stderr.strip() else f"exit {ver.returncode}"
            said = [re.sub(r"^warning: ", "", ln) for ln in ex.stderr.splitlines() if ln.startswith("warning:")]
            first = got[1]
            rows.append((name, f"{first['label']} {first['prob']:.3f}", f"{agree}/{len(pics)}", f"{dprob:.1e}",
                         v, "; ".join(said) or "nothing assumed"))
            print(rows[-1], flush=True)
    head = "| source | edgecv run: top-1 on chelsea.jpg | top-1 = user's pipeline | max abs prob diff | edgecv verify | what edgecv told the user at export |"
    lines = [head, "|" + "---|" * 6] + ["| " + " | ".join(r) + " |" for r in rows]
    text = ("# Model sources: export -> run vs the user's own torch pipeline\n\n"
            f"`python benchmarks/model_sources.py`, {len(pics)} real photos, ONNX Runtime CPU.\n\n" + "\n".join(lines) + "\n")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
