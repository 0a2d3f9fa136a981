from pathlib import Path
from typing import Annotated, Optional

import typer

from edgecv.cli import app
from edgecv.runtimes import backend_choices
from edgecv.cli.common import cli_errors, err, runtime_options
from edgecv.formats import MAX_IMAGE_PIXELS


@app.command("serve")
@cli_errors
def serve_cmd(
    model: Annotated[Path, typer.Argument(help="model file (.onnx, .engine)")],
    host: Annotated[str, typer.Option(help="address to listen on (0.0.0.0: every interface)")] = "127.0.0.1",
    http_port: Annotated[int, typer.Option(help="HTTP/REST (KServe v2)")] = 8000,
    grpc_port: Annotated[int, typer.Option(help="gRPC (KServe v2)")] = 8001,
    metrics_port: Annotated[int, typer.Option(help="Prometheus metrics")] = 8002,
    name: Annotated[Optional[str], typer.Option(help="model name clients ask for (default: the file's stem)")] = None,
    backend: Annotated[str, typer.Option(help=backend_choices(deploy_only=True))] = "auto",
    providers: Annotated[Optional[str], typer.Option(help="ONNX Runtime providers in order, e.g. cuda,cpu")] = None,
    threads: Annotated[Optional[int], typer.Option(help="intra-op threads (ONNX Runtime)")] = None,
    topk: Annotated[int, typer.Option(min=1, help="labels per image in the answer")] = 5,
    max_batch: Annotated[int, typer.Option(min=1, help="largest batch Triton's dynamic batcher gathers")] = 32,
    queue_delay_us: Annotated[int, typer.Option(min=0, help="how long the batcher may wait to fill a batch")] = 2000,
    max_image_pixels: Annotated[int, typer.Option(min=0, help="refuse images that declare more pixels")] = MAX_IMAGE_PIXELS,
    max_request_images: Annotated[int, typer.Option(min=1, help="refuse a request of more images than this (before "
                                                    "decoding any)")] = 32,
    max_request_pixels: Annotated[int, typer.Option(min=0, help="refuse a request whose images declare more pixels "
                                                    "in all (read from their headers; 0: no limit)")] = 64_000_000,
    instances: Annotated[int, typer.Option(min=1, help="model instances answering batches side by side")] = 2,
):
    """Serve a model through a real Triton server (PyTriton): clients send encoded images over HTTP or
    gRPC and get the labels `edgecv run` gives.  Limits per request (--max-request-images,
    --max-request-pixels, --max-image-pixels) are checked from the image headers before anything is
    decoded, so one client cannot hold the server for the others.  Ctrl-C stops it."""
    import time

    from edgecv.errors import EdgecvError
    from edgecv.runtimes import backend_for, load
    from edgecv.runtimes.serve.triton_server import ServeOptions, model_name, start_server

    from edgecv.runtimes import BACKENDS

    if not BACKENDS[backend_for(model, backend)].deploy:
        raise EdgecvError("edgecv serve runs exported models (ONNX Runtime or TensorRT)",
                          f"edgecv export {model.name} first, then serve the .onnx")
    options = runtime_options(providers, threads)
    opts = ServeOptions(host=host, http_port=http_port, grpc_port=grpc_port, metrics_port=metrics_port, name=name,
                        topk=topk, max_batch=max_batch, queue_delay_us=queue_delay_us,
                        max_pixels=max_image_pixels or None, max_request_images=max_request_images,
                        max_request_pixels=max_request_pixels or None, instances=instances)
    with load(model, backend, **options) as rt:
        triton = start_server(rt, opts, model)
        shown = "localhost" if host in ("0.0.0.0", "::") else host
        err.print(f"serving {model_name(model, name)} ({rt.spec.arch}, {rt.spec.num_classes} classes) on "
                  f"{rt.name}\n  HTTP    http://{shown}:{http_port}/v2/models/{model_name(model, name)}/infer\n"
                  f"  gRPC    {shown}:{grpc_port}\n  metrics http://{shown}:{metrics_port}/metrics\n"
                  f"  client  python samples/serve_client.py --url {shown}:{http_port} --model "
                  f"{model_name(model, name)} IMAGES...\nCtrl-C stops the server.")
        try:
            while triton.is_alive():
                time.sleep(0.5)
            raise EdgecvError("the Triton server stopped", "see its log above")
        except KeyboardInterrupt:
            err.print("stopping")
        finally:
            triton.stop()
