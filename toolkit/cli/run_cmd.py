from pathlib import Path
from typing import Annotated, Optional

import typer

from edgecv.cli import app
from edgecv.runtimes import backend_choices
from edgecv.cli.common import cli_errors, err, out, runtime_options, styled
from edgecv.formats import MAX_IMAGE_PIXELS


@app.command("run")
@cli_errors
def run_cmd(
    sources: Annotated[Optional[list[str]], typer.Argument(help="[MODEL] images, folders, globs")] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="model file (.onnx, .engine, .pt)")] = None,
    backend: Annotated[str, typer.Option(help=backend_choices())] = "auto",
    providers: Annotated[Optional[str], typer.Option(help="ONNX Runtime providers in order, e.g. cuda,cpu")] = None,
    threads: Annotated[Optional[int], typer.Option(help="intra-op threads (ONNX Runtime)")] = None,
    topk: Annotated[int, typer.Option(min=1, help="labels per image")] = 5,
    batch_size: Annotated[int, typer.Option(min=1, help="images per inference call")] = 8,
    json_out: Annotated[bool, typer.Option("--json", help="JSON lines on stdout, nothing else there")] = False,
    csv: Annotated[Optional[Path], typer.Option("--csv", help="also write results as CSV (streams: a row per "
                                                "frame and rank)")] = None,
    save_dir: Annotated[Optional[Path], typer.Option(help="images: write annotated copies here")] = None,
    camera: Annotated[Optional[int], typer.Option(help="live camera index (e.g. 0)")] = None,
    no_show: Annotated[bool, typer.Option("--no-show", help="streams: no window")] = False,
    record: Annotated[Optional[Path], typer.Option(help="streams: write the annotated video (.mkv, .mp4, .avi, "
                                                   ".webm; a killed .mkv recording stays playable)")] = None,
    record_codec: Annotated[str, typer.Option(help="streams: auto (MPEG-4, compact; VP8 for .webm) | mp4v | ffv1 "
                                              "(lossless, 50x larger) | mjpg | vp8")] = "auto",
    max_frames: Annotated[Optional[int], typer.Option(min=1, help="streams: stop after N frames")] = None,
    duration: Annotated[Optional[float], typer.Option(min=0.0, help="streams: stop after S seconds")] = None,
    smooth: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help="streams: EMA of probabilities")] = None,
    every: Annotated[int, typer.Option(min=1, help="streams: infer every N-th frame")] = 1,
    reconnect: Annotated[float, typer.Option(min=0.0, help="streams: seconds to retry a lost source")] = 3.0,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="write one row per image or frame (the "
                                                   "--json record) to FILE.jsonl or FILE.parquet")] = None,
    ray: Annotated[bool, typer.Option("--ray", help="classify on a Ray cluster (Ray Data + an actor pool; "
                                      "extra `ray`); local cluster unless --ray-address")] = False,
    ray_address: Annotated[Optional[str], typer.Option(help="join this Ray cluster (auto, ray://HOST:10001)")] = None,
    actors: Annotated[int, typer.Option(min=1, help="--ray: model actors (each loads the model once)")] = 1,
    max_image_pixels: Annotated[int, typer.Option(min=0, help="refuse images that declare more pixels than this "
                                                  "(decompression bombs; Pillow's default; 0: no limit)")] = MAX_IMAGE_PIXELS,
):
    """Classify images, folders, globs, videos, streams or a camera on ONNX Runtime, TensorRT or torch."""
    import json
    import sys
    import time

    from edgecv.formats import is_stream_source, is_url
    from edgecv.errors import EdgecvError
    from edgecv.runtimes import load
    from edgecv.runtimes.pipeline.sources import expand_sources

    from edgecv.runtimes.pipeline.run import classify_files, resolve_model

    model_path, sources = resolve_model(list(sources or []), model)
    if output:
        from edgecv.runtimes.pipeline.results_file import check_results_path

        check_results_path(output)
    streams = [s for s in sources if is_stream_source(s)]
    from edgecv.fileio import check_output, declare_inputs

    declare_inputs([model_path, *(s for s in sources if not is_url(s) and "%" not in s)])
    csv_to_stdout = csv is not None and str(csv) == "-"
    if csv_to_stdout and json_out:
        raise EdgecvError("--csv - and --json both write to stdout", "choose one, or give --csv a file")
    if csv is not None:
        check_output(csv, "--csv", (".csv",))
    if output is not None:
        check_output(output, "-o/--output")
    if camera is None and not sources:
        raise EdgecvError("no images given", "pass files, folders, globs, a video or --camera N")
    options = runtime_options(providers, threads)
    if ray or ray_address:
        if camera is not None or streams:
            raise EdgecvError("--ray classifies images, not streams", "drop --ray for a camera or a video")
        from edgecv.cli.run_ray import run_ray_cli

        raise typer.Exit(run_ray_cli(model_path, expand_sources(sources), output=output, address=ray_address,
                                     actors=actors, batch_size=batch_size, topk=topk, backend=backend,
                                     options=options, json_out=json_out,
                                     max_pixels=max_image_pixels))
    if camera is not None or streams:
        if (camera is not None and sources) or len(sources) > 1:
            raise EdgecvError("a stream (camera, video, URL) runs alone", "give one stream and no other sources")
        if record is not None:
            from edgecv.runtimes.streams.loop import record_codec as check_codec

            check_codec(record, record_codec)
            check_output(record, "--record")
        if save_dir:
            raise EdgecvError("--save-dir writes annotated copies of images; a stream is recorded with --record FILE",
                              "e.g. --record annotated.mkv")
        paths = []
    else:
        stream_only = [flag for flag, value in (("--record", record), ("--max-frames", max_frames),
                                                ("--duration", duration), ("--smooth", smooth)) if value is not None]
        if stream_only:
            raise EdgecvError(f"{', '.join(stream_only)} applies to a video, stream or camera, not to images",
                              "for annotated images use --save-dir DIR")
        paths = expand_sources(sources)
        declare_inputs(paths)
        if save_dir:
            from edgecv.fileio import writable_folder

            writable_folder(save_dir)
    in_flight = 1
    if camera is None and streams and not is_url(streams[0]) and every == 1 and not threads:
        from edgecv.runtimes import backend_for

        if backend_for(model_path, backend) == "onnxruntime":
            # A video file: one single-threaded inference per core, frames in flight (measured: resnet18
            # on 720p, 2 cores, 30.0 -> 33.9 FPS, the cores' bound); --threads N keeps one frame at a time.
            import os

            in_flight, options["intra_op_threads"] = min(os.cpu_count() or 1, 4), 1
    rt = load(model_path, backend, **options)
    assumed = rt.spec.assumed()
    if assumed:
        from edgecv.log import warn

        warn(f"{Path(model_path).name}: preprocessing was assumed at export, not stated: "
             f"{rt.spec.describe_sources(assumed)}; results may differ from training. Re-export with "
             "--resize / --imgsz / --mean / --std / --interpolation (edgecv info shows every field's source)")
    if not paths:
        from edgecv.cli.stream_out import run_stream_cli

        code = run_stream_cli(rt, camera if camera is not None else streams[0], topk=topk, show=not no_show,
                              record=record, json_lines=json_out, max_frames=max_frames, duration=duration,
                              smooth=smooth, every=every, reconnect=reconnect, max_pixels=max_image_pixels,
                              in_flight=in_flight, csv=csv, output=output, record_codec=record_codec)
        raise typer.Exit(code)
    results, failed = [], 0
    t0 = time.perf_counter()
    with rt, _progress(len(paths)) as progress:
        task = progress.add_task("classifying", total=len(paths)) if progress else None
        for r in classify_files(rt, paths, batch_size=batch_size, topk=topk, save_dir=save_dir,
                                max_pixels=max_image_pixels):
            if r.error:
                failed += 1
                err.print(styled(("skipped" if not r.topk else "failed", "red"), f" {r.error}"))
            if json_out:
                sys.stdout.write(json.dumps(r.to_json()) + "\n")
                sys.stdout.flush()
            results.append(r)
            if progress:
                done = len(results)
                progress.update(task, advance=1,
                                description=f"{done / max(time.perf_counter() - t0, 1e-9):6.1f} img/s")
    seconds = time.perf_counter() - t0
    if output:
        from edgecv.runtimes.pipeline.results_file import write_results

        write_results(output, (r.to_json() for r in results))
    if csv:
        from edgecv.runtimes.pipeline.classify import write_csv

        write_csv(csv, results)
    if not json_out and not csv_to_stdout:
        _table(results, rt)
    err.print(f"{len(results) - failed} classified, {failed} failed, "
              f"{len(results) / max(seconds, 1e-9):.1f} img/s on {rt.name} ({Path(model_path).name})")
    if failed:
        raise typer.Exit(1)


def _progress(total: int):
    import contextlib

    if total < 2 or not err.is_terminal:
        return contextlib.nullcontext()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True)


def _table(results, rt):
    from rich.table import Table

    table = Table(title=f"{rt.spec.arch} on {rt.name}")
    table.add_column("source", overflow="fold")
    table.add_column("top-k", overflow="fold")  # labels are data: folded, never cut
    for r in results:
        if r.error:
            table.add_row(r.source, styled((r.error, "red")))
        else:
            table.add_row(r.source, "  ".join(f"{t['label']} {t['prob']:.3f}" for t in r.topk))
    out.print(table)
