"""A backend and an export format as a third party would add them: one file each (here one file for
both), one registration line each (in the test)."""
from dataclasses import dataclass

from edgecv.runtimes.backends.onnxrt import OnnxRuntime


@dataclass(frozen=True)
class ToyOptions:
    """The options this backend takes (none but one, to show they are checked by name)."""

    label_prefix: str = ""


class ToyRuntime(OnnxRuntime):
    """Runs a `.toy` file (an ONNX file under another name) through ONNX Runtime."""

    backend = "toy"

    def __init__(self, path, options: ToyOptions | None = None):
        super().__init__(path)
        self.prefix = (options or ToyOptions()).label_prefix

    def activate_impl(self):
        super().activate_impl()
        self.name = "toy/" + self.name


@dataclass(frozen=True)
class CopyOptions:
    suffix: str = ".toy"


def build_copy(onnx_path, target, opts: CopyOptions, report, on_stage, say):
    """An export format: the final ONNX copied as a `.toy` file."""
    import shutil

    out = target.with_suffix(opts.suffix)
    shutil.copy(onnx_path, out)
    report.extra["toy"] = str(out)
    on_stage("toy", 0.0, str(out))
