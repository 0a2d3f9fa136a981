"""Write a short lossless video (FFV1 in .mkv) from the sample photos: python samples/make_video.py OUT.mkv"""
import sys
from pathlib import Path

import cv2

HERE = Path(__file__).resolve().parent


def main(out: str, size=(640, 480), fps=15, repeats=10):
    photos = sorted((HERE / "photos").glob("*.jpg"))
    w = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*"FFV1"), fps, size)
    if not w.isOpened():
        sys.exit(f"cannot write {out}")
    for _ in range(repeats):
        for p in photos:
            img = cv2.resize(cv2.imread(str(p)), size, interpolation=cv2.INTER_AREA)
            for _ in range(3):  # each photo held for 3 frames
                w.write(img)
    w.release()
    print(f"wrote {out}: {repeats * len(photos) * 3} frames at {size[0]}x{size[1]}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "samples/sample_video.mkv")
