"""Where the bundled samples live (a source checkout has samples/ beside the package folders)."""
from __future__ import annotations

from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
SAMPLE_ONNX = SAMPLES / "digits_fusion_cnn.onnx"


def sample_photos() -> list[Path]:
    """Real photos bundled with the checkout (empty when installed without samples/)."""
    d = SAMPLES / "photos"
    return sorted(d.glob("*.jpg")) if d.is_dir() else []
