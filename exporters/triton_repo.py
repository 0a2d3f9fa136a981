"""An edgecv ONNX file as a Triton Inference Server model repository (torch-free).

    REPO/<name>/config.pbtxt      ONNX Runtime backend, batch and I/O from the graph, edgecv spec
    REPO/<name>/labels.txt        one label per class (Triton's classification extension)
    REPO/<name>/<version>/model.onnx

The config is built as Triton's own ``ModelConfig`` protobuf message (tritonclient ships the
definitions, ``model_config_pb2``), written in protobuf text format and parsed back before it is
kept: what Triton reads is what we checked.  A dynamic-batch model gets ``max_batch_size`` (the
most a request or Triton's batcher may gather) and dynamic batching; a fixed-batch model gets
``max_batch_size: 0`` with the batch in its dims.  The spec (preprocessing, labels, score kind)
rides in ``parameters["edgecv.spec"]``: Triton's ONNX backend takes preprocessed tensors, so a
client reads the spec there (``edgecv serve`` does the preprocessing on the server instead).

A new export into an existing model folder adds the next version and rewrites the config: the
versions already there are kept (Triton serves the latest by default).
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgecv.errors import EdgecvError

DEFAULT_MAX_BATCH = 32
DEFAULT_QUEUE_DELAY_US = 2000
SPEC_PARAMETER = "edgecv.spec"


@dataclass
class TritonRepo:
    model_dir: Path
    version: int
    config: str  # the config.pbtxt text

    @property
    def model_file(self) -> Path:
        return self.model_dir / str(self.version) / "model.onnx"


def model_config_pb2():
    try:
        from tritonclient.grpc import model_config_pb2
    except ImportError:
        raise EdgecvError("--format triton needs Triton's protobuf definitions (tritonclient)",
                          "pip install 'edgecv[triton]'") from None
    return model_config_pb2


def _data_type(pb, elem_type: int) -> int:
    import onnx

    name = onnx.TensorProto.DataType.Name(elem_type)  # FLOAT, FLOAT16, INT64, ...
    triton = {"FLOAT": "TYPE_FP32", "FLOAT16": "TYPE_FP16", "DOUBLE": "TYPE_FP64", "UINT8": "TYPE_UINT8",
              "INT8": "TYPE_INT8", "INT32": "TYPE_INT32", "INT64": "TYPE_INT64", "BOOL": "TYPE_BOOL"}.get(name)
    if triton is None:
        raise EdgecvError(f"ONNX tensor type {name} has no Triton equivalent here")
    return pb.DataType.Value(triton)


def _dims(value_info) -> list[int | str]:
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
            for d in value_info.type.tensor_type.shape.dim]


def build_config(onnx_path, name: str, *, max_batch: int = DEFAULT_MAX_BATCH,
                 queue_delay_us: int = DEFAULT_QUEUE_DELAY_US, labels: bool = True):
    """The ``ModelConfig`` message for this ONNX file (not yet written)."""
    import onnx

    from edgecv.spec import METADATA_KEY

    pb = model_config_pb2()
    model = onnx.load(str(onnx_path), load_external_data=False)
    props = {p.key: p.value for p in model.metadata_props}
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    batch_dims = {str(_dims(v)[0]) for v in list(inputs) + list(model.graph.output) if _dims(v)}
    dynamic = all(not d.isdigit() for d in batch_dims)
    cfg = pb.ModelConfig(name=name, backend="onnxruntime", max_batch_size=max_batch if dynamic else 0)
    for v, field in [(i, cfg.input) for i in inputs] + [(o, cfg.output) for o in model.graph.output]:
        dims = _dims(v)[1:] if dynamic else _dims(v)
        if any(not isinstance(d, int) or d <= 0 for d in dims):
            dims = [d if isinstance(d, int) and d > 0 else -1 for d in dims]
        field.add(name=v.name, data_type=_data_type(pb, v.type.tensor_type.elem_type), dims=dims)
    if labels and cfg.output:
        cfg.output[0].label_filename = "labels.txt"
    if dynamic:
        cfg.dynamic_batching.max_queue_delay_microseconds = queue_delay_us
    if METADATA_KEY in props:
        cfg.parameters[SPEC_PARAMETER].string_value = props[METADATA_KEY]
    return cfg


def parse_config(text: str):
    """Parse config.pbtxt text with Triton's definitions (raises EdgecvError with the parser's line)."""
    from google.protobuf import text_format

    pb = model_config_pb2()
    try:
        return text_format.Parse(text, pb.ModelConfig())
    except text_format.ParseError as e:
        raise EdgecvError(f"config.pbtxt does not parse as Triton's ModelConfig: {e}") from None


def _next_version(model_dir: Path) -> int:
    versions = [int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()] if model_dir.is_dir() else []
    return max(versions, default=0) + 1


def write_triton_repo(onnx_path, repo, name: str | None = None, *, version: int | None = None,
                      max_batch: int = DEFAULT_MAX_BATCH, queue_delay_us: int = DEFAULT_QUEUE_DELAY_US) -> TritonRepo:
    """Put ``onnx_path`` (with its external data, if any) into the Triton repository ``repo``."""
    from google.protobuf import text_format

    from edgecv.fileio import atomic_write_text
    from edgecv.formats import safe_model_name
    from edgecv.runtimes.modelfile.onnx_file import load_model_proto, read_spec

    onnx_path, repo = Path(onnx_path), Path(repo)
    if not onnx_path.is_file():
        raise EdgecvError(f"{onnx_path} does not exist")
    load_model_proto(onnx_path)  # a graph, with its external data inside its folder
    if repo.exists() and not repo.is_dir():
        raise EdgecvError(f"{repo} is a file, not a model repository folder", "give -o a folder path")
    name = safe_model_name(name or onnx_path.name.split(".")[0])
    spec = read_spec(onnx_path)
    cfg = build_config(onnx_path, name, max_batch=max_batch, queue_delay_us=queue_delay_us,
                       labels=bool(spec and spec.labels))
    text = text_format.MessageToString(cfg)
    if parse_config(text) != cfg:  # round trip through Triton's own definitions
        raise EdgecvError("config.pbtxt did not read back as written (a tritonclient / protobuf mismatch?)")
    model_dir = repo / name
    model_dir.mkdir(parents=True, exist_ok=True)
    version = version or _next_version(model_dir)
    target = model_dir / str(version)
    if target.exists():
        raise EdgecvError(f"{target} already exists", "leave out --triton-version to add the next version")
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=model_dir))
    try:
        shutil.copyfile(onnx_path, staging / "model.onnx")
        for data in onnx_path.parent.glob(onnx_path.name + ".data"):  # external weights keep their name
            shutil.copyfile(data, staging / data.name)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if spec and spec.labels:
        atomic_write_text(model_dir / "labels.txt", lambda f: f.write("".join(f"{label}\n" for label in spec.labels)))
    atomic_write_text(model_dir / "config.pbtxt", lambda f: f.write(text))
    return TritonRepo(model_dir, version, text)
