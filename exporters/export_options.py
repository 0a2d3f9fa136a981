"""What ``export_onnx`` takes and returns: torch-free, so the API and the CLI can build options (and
read results) on a box where only the deploy half is installed."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgecv.parity import Comparison
from edgecv.spec import ModelSpec


@dataclass
class ExportOptions:
    output: Path | None = None
    arch: str | None = None
    num_classes: int | None = None
    opset: int | None = None
    batch: str | int = "auto"  # auto: dynamic, or 1 with a warning naming the line that fixes it | dynamic | N
    imgsz: tuple[int, int] | None = None
    odconv_mode: str = "auto"
    target: str = "onnxruntime"  # a name in exporters.targets.TARGETS: ort-1.16, tensorrt-10, jetson-jp6 ...
    embed_preprocessing: bool = False  # the file takes raw uint8 images: resize, crop, normalise in the graph
    check_target: bool = False  # run the file in the target's own ONNX Runtime (installed by uv) before writing
    exporter: str = "auto"  # auto | dynamo | torchscript
    unsafe_load: bool = False
    validate: bool = True
    atol: float = 1e-4
    rtol: float = 1e-3
    odconv_temperature: float | None = 1.0
    exif_transpose: bool | None = None  # None: as the checkpoint's spec says
    high_bit_depth: str | None = None
    model_file: str | None = None  # the user's own model code, "model.py[:NAME]"
    model_kwargs: dict = field(default_factory=dict)
    class_output: str | None = None  # NAME | INDEX of the class scores among several outputs
    stated: dict = field(default_factory=dict)  # spec fields the user stated (see ModelSpec.with_stated)
    transforms: object = None  # the user's eval transforms (Compose or "FILE.py:NAME"): stated + checked against
    check_preprocessing: bool = True  # hold the deploy preprocessing to the source's own pipeline
    allow_preprocessing_mismatch: bool = False  # write the file even when they differ (said, and recorded)

    def load_kwargs(self) -> dict:
        """``load_model`` keyword arguments for the model these options describe."""
        stated = dict(self.stated)
        if self.imgsz:
            stated.setdefault("input_size", tuple(self.imgsz))
        if self.exif_transpose is not None:
            stated.setdefault("exif_transpose", self.exif_transpose)
        if self.high_bit_depth is not None:
            stated.setdefault("high_bit_depth", self.high_bit_depth)
        return {"arch": self.arch, "num_classes": self.num_classes, "unsafe": self.unsafe_load,
                "model_kwargs": self.model_kwargs, "model_file": self.model_file, "output": self.class_output,
                "stated": stated, "transforms": self.transforms}


@dataclass
class Validation:
    """The exported file against the torch model, one ``Comparison`` per input set."""

    rows: list[tuple[str, Comparison]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be checked, said out loud
    errors: list[tuple[str, str]] = field(default_factory=list)  # inputs the file could not run: (name, why)

    @property
    def ok(self) -> bool:
        return not self.errors and all(bool(c) for _, c in self.rows)

    def worst(self) -> str:
        """The worst input, in words: ``random b=1 max abs error 0.03, top-1 agreement 100%``."""
        if self.errors:
            name, why = self.errors[0]
            return f"{name} does not run ({why.split('Status Message: ')[-1].strip()[:160]})"
        name, c = max(self.rows, key=lambda r: r[1].max_abs)
        return f"{name} max abs error {c.max_abs:.3g}, top-1 agreement {c.top1:.0%}"

    @property
    def max_abs(self) -> float:
        return max((c.max_abs for _, c in self.rows), default=0.0)

    @property
    def max_rel(self) -> float:
        return max((c.max_rel for _, c in self.rows), default=0.0)

    def to_dict(self) -> dict:
        return {"max_abs": self.max_abs, "max_rel": self.max_rel, "notes": self.notes,
                "errors": [{"input": name, "error": why} for name, why in self.errors],
                "rows": [{"input": name, "max_abs": c.max_abs, "max_rel": c.max_rel, "top1": c.top1, "ok": bool(c)}
                         for name, c in self.rows]}


@dataclass
class ExportResult:
    path: Path
    size: int
    opset: int
    exporter: str
    exporter_note: str
    inputs: list[dict]
    outputs: list[dict]
    passes: dict
    spec: ModelSpec
    validation: Validation | None
    stages: list[tuple[str, float, str]]
    batch: str | int = "dynamic"  # the batch the file takes: "dynamic" or the one size it was fixed at
    batch_note: str = ""  # why the batch is fixed, when edgecv fixed it (the line of the model's source)
    attempts: list[str] = field(default_factory=list)  # the graphs tried and not kept: "exporter, batch: why"
