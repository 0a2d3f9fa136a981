"""Write a short video of the sample digits, each held for a few frames, as a camera pointed at them
would see them: python samples/make_video.py OUT.mkv [--codec mp4v|ffv1]

The frames are square (the digits model resizes its whole input to 28 x 28) and lossless FFV1 on
request, so a test can compare frame-by-frame predictions with the images themselves.
"""
import argparse
import sys
from pathlib import Path

import cv2

HERE = Path(__file__).resolve().parent


def main(out: str, size: int = 240, fps: int = 15, hold: int = 3, codec: str = "mp4v"):
    digits = sorted((HERE / "digits").rglob("*.png"))
    w = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*{"mp4v": "mp4v", "ffv1": "FFV1"}[codec]), fps, (size, size))
    if not w.isOpened():
        sys.exit(f"cannot write {out}")
    for p in digits:
        img = cv2.resize(cv2.imread(str(p)), (size, size), interpolation=cv2.INTER_NEAREST)
        for _ in range(hold):  # each digit held for a few frames
            w.write(img)
    w.release()
    print(f"wrote {out}: {len(digits) * hold} frames of {len(digits)} digits at {size}x{size}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?", default="samples/sample_video.mkv")
    ap.add_argument("--codec", choices=("mp4v", "ffv1"), default="mp4v")
    a = ap.parse_args()
    main(a.out, codec=a.codec)
