"""Draw top-k labels (and optional stats lines) on a frame with OpenCV."""
from __future__ import annotations

import cv2
import numpy as np


def draw_topk(bgr: np.ndarray, topk: list[dict], lines: list[str] = ()) -> np.ndarray:
    """Annotate in place: a dark box with 'label  91.0%' lines (top-1 in bold), then extra lines."""
    h, w = bgr.shape[:2]
    scale = max(0.4, min(w, h) / 640.0)
    thick = max(1, int(round(scale * 2)))
    texts = [f"{t['label']}  {t['prob'] * 100:.1f}%" for t in topk] + list(lines)
    if not texts:
        return bgr
    line_h = int(26 * scale) + 4
    box_w = max(cv2.getTextSize(s, cv2.FONT_HERSHEY_SIMPLEX, scale * 0.7, thick)[0][0] for s in texts) + 16
    box_h = line_h * len(texts) + 8
    overlay = bgr.copy()
    cv2.rectangle(overlay, (0, 0), (min(box_w, w), min(box_h, h)), (0, 0, 0), -1)
    cv2.addWeighted(overlay, 0.55, bgr, 0.45, 0, dst=bgr)
    for i, s in enumerate(texts):
        color = (80, 255, 80) if i == 0 and topk else (255, 255, 255)
        cv2.putText(bgr, s, (8, line_h * (i + 1)), cv2.FONT_HERSHEY_SIMPLEX, scale * 0.7, color,
                    thick + (1 if i == 0 and topk else 0), cv2.LINE_AA)
    return bgr
