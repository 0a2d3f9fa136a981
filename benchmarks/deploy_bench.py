"""Deploy-side numbers, each measured side by side in one run.

    python benchmarks/deploy_bench.py

1. Cold start of `edgecv run model.onnx photo.jpg --json` (process start to printed result), torch
   blocked, median of 5; `python -c pass` alongside for the interpreter's own share.
2. Preprocessing a 1280x720 frame to 224x224 (Resize 256 + CenterCrop 224): edgecv's PIL-faithful
   numpy path vs cv2.resize (INTER_LINEAR / INTER_AREA) vs PIL + torchvision, with the mean / max
   abs difference of each against torchvision on real photos (normalised units).
3. Folder throughput of `classify_paths` (decode + preprocess in threads, batched inference) vs the
   model-only throughput at the same batch size, for the sample model and resnet18 (random weights).
Writes benchmarks/results/deploy_bench.json.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BLOCK_TORCH = ("import sys\nclass B:\n def find_spec(self,n,p=None,t=None):\n"
               "  if n=='torch' or n.startswith('torch.'): raise ImportError(n)\nsys.meta_path.insert(0,B())\n")


def cold_start(model: Path, image: Path, n=5) -> dict:
    code = BLOCK_TORCH + f"sys.argv=['edgecv','run',{str(model)!r},{str(image)!r},'--json']\n" \
        "from edgecv.cli import main\nmain()"
    runs, base = [], []
    for _ in range(n):
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        runs.append(time.perf_counter() - t)
        assert r.returncode == 0 and r.stdout.strip(), r.stderr
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"])
        base.append(time.perf_counter() - t)
    return {"edgecv_run_s": statistics.median(runs), "python_pass_s": statistics.median(base)}


def preprocessing() -> dict:
    import skimage.data
    from PIL import Image

    from edgecv.runtimes.pipeline.preprocess import Preprocessor
    from edgecv.spec import ModelSpec
    from edgecv.training.transforms import eval_transform

    spec = ModelSpec(arch="x", num_classes=2)
    pre, tf = Preprocessor(spec), eval_transform(spec)
    mean, std = np.array(spec.mean, np.float32)[:, None, None], np.array(spec.std, np.float32)[:, None, None]

    def cv2_path(img, interp):
        h, w = img.shape[:2]
        s = 256 / min(h, w)
        r = cv2.resize(img, (int(w * s) if w > h else 256, int(h * s) if h > w else 256), interpolation=interp)
        t, l_ = (r.shape[0] - 224) // 2, (r.shape[1] - 224) // 2
        return (r[t:t + 224, l_:l_ + 224].transpose(2, 0, 1).astype(np.float32) / 255 - mean) / std

    variants = {"edgecv (PIL-faithful numpy)": pre,
                "cv2 INTER_LINEAR": lambda im: cv2_path(im, cv2.INTER_LINEAR),
                "cv2 INTER_AREA": lambda im: cv2_path(im, cv2.INTER_AREA),
                "PIL + torchvision": lambda im: tf(Image.fromarray(im)).numpy()}
    names = ["astronaut", "coffee", "chelsea", "rocket", "motorcycle_left", "immunohistochemistry",
             "hubble_deep_field", "camera", "horse", "cat", "colorwheel", "retina"]
    photos = []
    for n in names:
        try:
            a = getattr(skimage.data, n)()
        except Exception:  # noqa: BLE001
            continue
        photos.append(np.asarray(Image.fromarray(a.astype(np.uint8) if a.dtype != bool else a.astype(np.uint8) * 255).convert("RGB")))
    frame = cv2.resize(photos[0], (1280, 720))
    out = {"photos": len(photos)}
    for name, fn in variants.items():
        fn(frame)
        t = time.perf_counter()
        reps = 30
        for _ in range(reps):
            fn(frame)
        ms = (time.perf_counter() - t) / reps * 1e3
        diffs = [np.abs(fn(p) - tf(Image.fromarray(p)).numpy()) for p in photos]
        out[name] = {"ms_1280x720": ms, "mean_abs": float(np.mean([d.mean() for d in diffs])),
                     "max_abs": float(max(d.max() for d in diffs))}
    return out


def folder_throughput(model: Path, images: list[Path], batch: int) -> dict:
    from edgecv.runtimes.bench import time_batches
    from edgecv.runtimes.pipeline.classify import classify_paths
    from edgecv.runtimes import load

    with load(model) as rt:
        t = np.asarray(time_batches(rt, batch, 3.0))
        model_only = batch * len(t) / t.sum()
        list(classify_paths(rt, images[:batch * 2], batch_size=batch))  # warm caches
        t0 = time.perf_counter()
        n = sum(1 for r in classify_paths(rt, images, batch_size=batch) if not r.error)
        folder = n / (time.perf_counter() - t0)
    return {"model": model.name, "batch": batch, "images": len(images), "model_only_img_s": model_only,
            "folder_img_s": folder, "ratio": folder / model_only}


def main():
    import torch

    from edgecv.loaders.checkpoint import save_checkpoint
    from edgecv.exporters.onnx_export import ExportOptions, export_onnx
    from edgecv.models import create_model, default_spec

    tmp = Path(tempfile.mkdtemp())
    sample = export_onnx(ROOT / "samples/digits_fusion_cnn.pt", ExportOptions(output=tmp / "digits.onnx")).path
    torch.manual_seed(0)
    ck = save_checkpoint(tmp / "resnet18.pt", create_model("resnet18", num_classes=1000).eval(),
                         default_spec("resnet18"))
    r18 = export_onnx(ck, ExportOptions(output=tmp / "resnet18.onnx")).path
    photo_dir = tmp / "photos"
    photo_dir.mkdir()
    import skimage.data

    base = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea(), skimage.data.rocket()]
    for i in range(96):
        img = cv2.resize(base[i % 4], (640, 480))
        cv2.imwrite(str(photo_dir / f"p{i:03d}.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    images = sorted(photo_dir.glob("*.jpg"))
    res = {"cold_start": cold_start(sample, images[0]), "preprocessing": preprocessing(),
           "folder": [folder_throughput(sample, images, 8), folder_throughput(r18, images, 8)]}
    print(json.dumps(res, indent=1))
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "deploy_bench.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
