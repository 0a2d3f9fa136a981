"""Annotated copies of classified images (deploy side: OpenCV, no torch)."""
from __future__ import annotations

from pathlib import Path


def save_annotated(r, save_dir: Path):
    """The image with its top-3 drawn, as a new file in ``save_dir`` (never over a file there, never
    through a link planted there: see ``fileio.write_new``)."""
    import cv2

    from edgecv.errors import EdgecvError
    from edgecv.fileio import write_new
    from edgecv.runtimes.streams.overlay import draw_topk

    src = Path(r.source)
    ext = src.suffix.lower() if src.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp") else ".png"
    bgr = cv2.cvtColor(r.image, cv2.COLOR_RGB2BGR)
    if min(bgr.shape[:2]) < 160:  # tiny inputs (8x8 digits): enlarge so the text is readable
        f = 160 / min(bgr.shape[:2])
        bgr = cv2.resize(bgr, None, fx=f, fy=f, interpolation=cv2.INTER_NEAREST)
    draw_topk(bgr, r.topk[:3])
    ok, data = cv2.imencode(ext, bgr)
    if not ok:
        raise EdgecvError(f"cannot encode the annotated copy of {src.name} as {ext}")
    write_new(save_dir, src.stem, ext, data.tobytes())
