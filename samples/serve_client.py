"""Classify images through `edgecv serve` (a Triton server) from another process or machine.

    edgecv serve samples/digits_fusion_cnn.onnx                       # terminal 1
    python samples/serve_client.py --model digits_fusion_cnn samples/digits/3/*.png   # terminal 2

Prints one JSON line per image: the record `edgecv run --json` prints.  Needs only tritonclient
(`pip install tritonclient[http,grpc]`) and edgecv's small client wrapper.
"""
import argparse
import json

from edgecv.runtimes.serve.client import TritonImageClient


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", nargs="+")
    ap.add_argument("--url", default="127.0.0.1:8000", help="HOST:PORT (8000 HTTP, 8001 gRPC)")
    ap.add_argument("--model", required=True, help="the served model's name")
    ap.add_argument("--protocol", choices=("http", "grpc"), default="http")
    ap.add_argument("--batch", type=int, default=1, help="images per request")
    args = ap.parse_args()
    with TritonImageClient(args.url, args.model, args.protocol) as client:
        for record in client.classify(args.images, batch=args.batch):
            print(json.dumps(record))


if __name__ == "__main__":
    main()
