"""Peak memory and time of `edgecv run` on one large photo and on a decompression bomb.

Each case runs `edgecv run MODEL IMAGE --json` in its own process; peak resident memory is the
child's ru_maxrss.  Compare two installs by pointing --edgecv at each one's console script.

    python benchmarks/decode_memory.py [--edgecv .venv/bin/edgecv] [--model samples/digits_fusion_cnn.onnx]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]


def png_bomb(path: Path, width: int = 30000, height: int = 30000) -> Path:
    """A real grey PNG of zeros (every row compressed): ~0.9 MB on disk, 900 M pixels declared."""
    import struct

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    comp, row, parts = zlib.compressobj(9), b"\0" * (width + 1), []
    for _ in range(height):
        parts.append(comp.compress(row))
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))
    return path


def big_jpeg(path: Path, width: int = 6000, height: int = 4000) -> Path:
    photo = cv2.imread(str(ROOT / "samples" / "photos" / "astronaut.jpg"))
    cv2.imwrite(str(path), cv2.resize(photo, (width, height), interpolation=cv2.INTER_CUBIC), [cv2.IMWRITE_JPEG_QUALITY, 92])
    return path


def measure(edgecv: str, model: str, image: Path, timeout: float) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    try:
        r = subprocess.run([edgecv, "run", model, str(image), "--json"], capture_output=True, text=True, timeout=timeout)
        code, out = r.returncode, r.stdout.strip()
    except subprocess.TimeoutExpired:
        code, out = "timeout", ""
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB, the largest child so far
    return {"image": image.name, "bytes": image.stat().st_size, "exit": code, "seconds": round(seconds, 2),
            "peak_rss_mib": round(peak / 1024, 1) if peak > before else None, "result": out[:200]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edgecv", default=str(ROOT / ".venv" / "bin" / "edgecv"))
    ap.add_argument("--model", default=str(ROOT / "samples" / "digits_fusion_cnn.onnx"))
    ap.add_argument("--cases", default="jpeg,bomb")
    ap.add_argument("--timeout", type=float, default=300)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        makers = {"jpeg": lambda: big_jpeg(Path(tmp) / "photo_6000x4000.jpg"),
                  "bomb": lambda: png_bomb(Path(tmp) / "bomb_30000x30000.png")}
        rows = []
        for case in a.cases.split(","):  # one process per case: ru_maxrss is a running maximum
            img = makers[case]()
            code = (f"import json,sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import decode_memory as d; "
                    f"from pathlib import Path; print(json.dumps(d.measure({a.edgecv!r}, {a.model!r}, Path({str(img)!r}), {a.timeout})))")
            rows.append(json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout))
            print(json.dumps(rows[-1]), flush=True)


if __name__ == "__main__":
    main()
