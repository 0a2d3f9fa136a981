"""``edgecv run --ray``: classify a whole archive on a Ray cluster with Ray Data.

The dataset is the list of image paths (``from_items``, in the order ``edgecv run`` would take
them).  Stage one, parallel Ray tasks: read the bytes, decode and preprocess exactly as ``run``
does (``Preprocessor`` + ``decode``); an unreadable image becomes a row with its error, never a
failed job.  Stage two, an actor pool (``map_batches`` with a callable class): each actor unpacks
the model bundle the driver put in the object store (so the model need not exist at the same path
on the workers), loads it once on ONNX Runtime (or TensorRT where the actor has a GPU) and
classifies whole batches.  The driver streams the rows back in input order and writes the same
record ``run --json`` prints.  Images must be readable at their paths from the workers (one
machine, or a shared file system).

Without an address Ray starts a local cluster on this machine; ``address="auto"`` or
``ray://host:10001`` joins an existing one (edgecv must be installed on its nodes).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from edgecv.errors import EdgecvError


DECODE_CPUS = 0.5  # per decode task; differs from the actors' share, so Ray keeps the stages apart


@dataclass
class RayRunStats:
    images: int = 0
    failed: int = 0
    startup_s: float = 0.0  # ray.init + putting the model in the object store
    run_s: float = 0.0      # dataset start to last row out
    first_row_s: float = 0.0  # dataset start to first row out: worker start-up, model load, first batch
    actors: int = 1

    @property
    def images_per_s(self) -> float:
        return self.images / max(self.run_s, 1e-9)

    @property
    def steady_images_per_s(self) -> float:
        """Rows per second once the first row is out (the pipeline is full)."""
        return (self.images - 1) / max(self.run_s - self.first_row_s, 1e-9) if self.images > 1 else 0.0


def _decode_batch(batch: dict, spec_json: str, max_pixels: int | None) -> dict:
    """Ray task: paths -> preprocessed tensors (zeros where the image failed) and per-row errors."""
    from edgecv.runtimes.pipeline.classify import prepare_image
    from edgecv.runtimes.pipeline.images import DecodeOptions
    from edgecv.runtimes.pipeline.preprocess import Preprocessor
    from edgecv.spec import ModelSpec

    spec = ModelSpec.from_json(spec_json)
    pre = Preprocessor(spec)
    decode = DecodeOptions.for_spec(spec, max_pixels)
    loaded = [prepare_image(Path(str(p)), pre, decode) for p in batch["source"]]
    xs, errors = [x for _, x, _, _ in loaded], [e or "" for _, _, _, e in loaded]
    shape = next((x.shape for x in xs if x is not None), (spec.channels, *spec.input_size))
    x = np.stack([x if x is not None else np.zeros(shape, np.float32) for x in xs])
    return {"source": batch["source"], "x": x, "error": np.array(errors, dtype=object)}


class _Classifier:
    """Ray actor: the model loaded once, then whole batches classified."""

    def __init__(self, bundle_ref: list, backend: str, options: dict, topk: int):
        import ray

        from edgecv.runtimes import load
        from edgecv.runtimes.distributed.bundle import unpack_bundle

        bundle = ray.get(bundle_ref[0])  # in a list: Ray hands the reference over, not the bytes
        self.rt = load(unpack_bundle(bundle), backend, **options).__enter__()
        self.topk = topk

    def __call__(self, batch: dict) -> dict:
        from edgecv.runtimes.pipeline.classify import Result, infer_probabilities, topk_entries

        ok = np.array([not e for e in batch["error"]], dtype=bool)
        probs = iter(infer_probabilities(self.rt, np.ascontiguousarray(batch["x"][ok])) if ok.any() else ())
        records = [Result(str(source), error=str(error)) if error else
                   Result(str(source), topk_entries(next(probs), self.rt.spec, self.topk))
                   for source, error in zip(batch["source"], batch["error"])]
        return {"record": np.array([json.dumps(r.to_json()) for r in records], dtype=object)}


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise EdgecvError("--ray needs Ray Data", "pip install 'edgecv[ray]'") from None
    return ray


def run_on_ray(model_path, paths: list, *, address: str | None = None, actors: int = 1, batch_size: int = 8,
               topk: int = 5, backend: str = "auto", options: dict | None = None, max_pixels: int | None = None,
               gpus_per_actor: float = 0.0, on_row: Callable[[dict], None] | None = None
               ) -> tuple[Iterator[dict], RayRunStats]:
    """Start (or join) Ray, and return an iterator over one record per path, in input order, and
    the stats it fills in as it runs.  ``on_row`` is called for every record (progress)."""
    ray = _import_ray()
    from edgecv.runtimes import backend_for, load
    from edgecv.runtimes.distributed.bundle import model_bundle
    from edgecv.runtimes.pipeline.preprocess import takes_raw_images

    stats = RayRunStats(actors=actors)
    model_path = Path(model_path)
    backend = backend_for(model_path, backend)
    if backend == "torch":
        raise EdgecvError("--ray runs exported models (ONNX Runtime or TensorRT), not torch files",
                          f"edgecv export {model_path.name} first, then run the .onnx")
    if backend == "tensorrt" and not gpus_per_actor:
        gpus_per_actor = 1.0
    with load(model_path, backend, **(options or {})) as rt:  # fail here, not in every actor
        spec_json = rt.spec.to_json()
        if takes_raw_images(rt.spec):
            raise EdgecvError(f"{model_path.name} has its preprocessing embedded: --ray moves preprocessed tensors "
                              "of one size between its stages, not raw images of many sizes",
                              "use the export without --embed-preprocessing with --ray")
    bundle = model_bundle(model_path)
    t0 = time.perf_counter()
    if not ray.is_initialized():
        kwargs = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(**kwargs)
    import logging

    logging.getLogger("ray.data").setLevel(logging.ERROR)  # execution banners: edgecv prints its own summary
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    bundle_ref = ray.put(bundle)
    # Actors and decode tasks share the cluster's CPUs: actors that took every CPU would leave the
    # decode stage nothing to run on (a stall), so they ask for what remains after one decode task.
    cpus = float(ray.cluster_resources().get("CPU", 1.0))
    actor_cpus = min(1.0, max(0.1, (cpus - DECODE_CPUS) / actors))
    stats.startup_s = time.perf_counter() - t0

    # Blocks of about two batches: decoding and inference overlap from the first block on (a few
    # big blocks would leave the actors idle while whole blocks decode).
    blocks = max(1, min(-(-len(paths) // (2 * batch_size)), 10_000))
    ds = ray.data.from_items([{"source": str(p)} for p in paths], override_num_blocks=blocks)
    # Decoding runs as its own tasks (num_cpus differs from the actors', so Ray does not fuse the two
    # stages into the actor), in parallel with the actors' inference.
    ds = ds.map_batches(_decode_batch, batch_size=batch_size, batch_format="numpy", num_cpus=DECODE_CPUS,
                        fn_kwargs={"spec_json": spec_json, "max_pixels": max_pixels})
    ds = ds.map_batches(_Classifier, batch_size=batch_size, batch_format="numpy", concurrency=actors,
                        num_cpus=actor_cpus, num_gpus=gpus_per_actor or None,
                        fn_constructor_kwargs={"bundle_ref": [bundle_ref], "backend": backend,
                                               "options": options or {}, "topk": topk})

    def rows() -> Iterator[dict]:
        t1 = time.perf_counter()
        try:
            for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
                for record in batch["record"]:
                    r = json.loads(record)
                    if not stats.images:
                        stats.first_row_s = time.perf_counter() - t1
                    stats.images += 1
                    stats.failed += bool(r.get("error"))
                    if on_row:
                        on_row(r)
                    yield r
        finally:
            stats.run_s = time.perf_counter() - t1

    return rows(), stats


def shutdown() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()
