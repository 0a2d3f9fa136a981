"""The frame loop of `edgecv run` on cameras, videos and streams: infer, overlay, show, record."""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from edgecv.log import info
from edgecv.runtimes.streams.overlay import draw_topk
from edgecv.runtimes.streams.capture import Source
from edgecv.runtimes.pipeline.classify import probabilities, topk_entries
from edgecv.runtimes.pipeline.preprocess import preprocessor_for

# Recording codecs (OpenCV's FFmpeg).  The default, MPEG-4 Part 2, is compact (0.6 MB for 4 s of
# 640x480, 1.5 ms a frame) and plays in VLC, ffmpeg-based players, QuickTime and Windows; FFV1 is
# lossless (50x larger), VP8 plays in browsers (.webm, 16x slower to encode).  H.264 is not in
# opencv-python's FFmpeg.
CODECS = {"mp4v": "mp4v", "ffv1": "FFV1", "mjpg": "MJPG", "vp8": "VP80"}
CONTAINERS = {".mp4": ("mp4v", "mjpg"), ".mkv": tuple(CODECS), ".avi": ("mp4v", "mjpg", "ffv1"),
              ".webm": ("vp8",)}


def record_codec(path: Path, codec: str = "auto") -> str:
    """The FourCC to record ``path`` with; ``EdgecvError`` for a container / codec that do not go together."""
    from edgecv.errors import EdgecvError

    ext = path.suffix.lower()
    if ext not in CONTAINERS:
        raise EdgecvError(f"--record {path}: {ext or 'no suffix'} is not a video container edgecv records",
                          f"use {', '.join(CONTAINERS)}")
    codec = CONTAINERS[ext][0] if codec == "auto" else codec.lower()
    if codec not in CODECS:
        raise EdgecvError(f"--record-codec {codec!r} is not one of auto, {', '.join(CODECS)}")
    if codec not in CONTAINERS[ext]:
        raise EdgecvError(f"--record-codec {codec} does not go in a {ext} file",
                          f"{ext} takes {', '.join(CONTAINERS[ext])}; .mkv takes every codec")
    return CODECS[codec]


def display_available() -> bool:
    """OpenCV's Qt build aborts the process when it cannot open a display: check before imshow."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


@dataclass
class StreamOptions:
    topk: int = 5
    show: bool = True
    record: Path | None = None
    record_codec: str = "auto"
    json_lines: bool = False
    max_frames: int | None = None
    duration: float | None = None
    smooth: float | None = None  # EMA factor for probabilities (weight of the newest)
    every: int = 1
    snapshot_dir: Path = Path(".")
    window: str = "edgecv"
    # Called with each frame's record (source, frame, pts_s, elapsed_s, topk, latency_ms): the CLI
    # prints what is seen and collects rows for --csv / -o with it.
    on_frame: Callable[[dict], None] | None = None
    # Files: frames classified concurrently (preprocess + infer in worker threads, results taken in
    # order).  With single-threaded ONNX Runtime sessions, one frame per core fills the cores with no
    # intra-op barrier for the capture thread to stall (resnet18 720p, 2 cores: 30.0 -> 33.9 FPS).
    in_flight: int = 1


@dataclass
class Summary:
    source: str
    frames: int = 0
    inferred: int = 0
    dropped: int = 0
    corrupt: int = 0
    reconnects: int = 0
    seconds: float = 0.0
    latencies_ms: list = field(default_factory=list)
    model_ms: list = field(default_factory=list)
    lost: bool = False
    exit_reason: str = "end of stream"
    recording: str | None = None
    failed: str | None = None  # a file that did not play whole: corrupt frames, or fewer than it declares

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict:
        lat = np.asarray(self.latencies_ms or [0.0])
        mod = np.asarray(self.model_ms or [0.0])
        return {"source": self.source, "frames": self.frames, "inferred": self.inferred, "dropped": self.dropped,
                "corrupt": self.corrupt, "reconnects": self.reconnects, "fps": round(self.fps, 2),
                "model_ms_p50": round(float(np.median(mod)), 3),
                "latency_ms_p50": round(float(np.median(lat)), 3),
                "latency_ms_p95": round(float(np.percentile(lat, 95)), 3),
                "seconds": round(self.seconds, 3), "lost": self.lost, "exit": self.exit_reason,
                "recording": self.recording}


class _Recorder:
    """Opened on the first frame; released on every exit path, so the file stays playable.

    A new file is written in place, so a recording cut short (even by ``kill -9``) keeps what was
    written (a ``.mkv`` plays as far as it got; an ``.mp4`` needs its index, written at the end).  An
    existing file is replaced only when the new recording is complete: it is recorded to a temporary
    file beside it and renamed at the end.  Paths are checked by ``fileio.check_output`` first (never
    an input of the run, never through a link)."""

    def __init__(self, path: Path | None, fps: float, codec: str = "auto"):
        self.path, self.fps, self.writer = path, fps or 30.0, None
        self.code = record_codec(path, codec) if path is not None else None
        self.target = None  # where frames go: the path, or a temporary file that replaces it at the end

    def write(self, bgr):
        if self.path is None:
            return
        if self.writer is None:
            from edgecv.errors import EdgecvError
            from edgecv.fileio import check_output, temp_path

            check_output(self.path, "--record")
            replace = self.path.is_file()
            self.target = temp_path(self.path, keep_suffix=True) if replace else self.path
            self.writer = cv2.VideoWriter(str(self.target), cv2.VideoWriter_fourcc(*self.code), self.fps,
                                          (bgr.shape[1], bgr.shape[0]))
            if not self.writer.isOpened():
                raise EdgecvError(f"cannot record to {self.path} ({self.code})",
                                  "check that the folder is writable, or choose another --record-codec")
        self.writer.write(bgr)

    def close(self):
        if self.writer is not None:
            self.writer.release()
            self.writer = None
            if self.target != self.path:
                os.replace(self.target, self.path)


def _infer_frame(rt, pre, bgr) -> tuple[np.ndarray, float]:
    """(logits, model ms) for one BGR frame."""
    x = pre(bgr, "BGR")[None]
    t = time.perf_counter()
    logits = rt.infer(x)
    return logits, (time.perf_counter() - t) * 1e3


class _Ahead:
    """Up to ``n`` file frames preprocessed and inferred in worker threads, handed out in order."""

    def __init__(self, rt, pre, source: Source, n: int):
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        self.rt, self.pre, self.source, self.n = rt, pre, source, n
        self.pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="edgecv-infer")
        self.pending: deque = deque()
        self.done = False

    def next(self):
        while not self.done and len(self.pending) < self.n:
            frame = self.source.read(timeout=None)
            if frame is None:
                self.done = True
                break
            self.pending.append((frame, self.pool.submit(_infer_frame, self.rt, self.pre, frame.image)))
        return self.pending.popleft() if self.pending else (None, None)

    def close(self):
        for _, fut in self.pending:
            fut.cancel()
        self.pool.shutdown(wait=True)


def run_stream(rt, source: Source, opts: StreamOptions, out=sys.stdout) -> Summary:
    spec = rt.spec
    pre = preprocessor_for(spec)  # tensors, or the frame itself for a file with its preprocessing embedded
    name = str(source.target)
    summary = Summary(source=name, recording=str(opts.record) if opts.record else None)
    show = opts.show and display_available()
    recorder = _Recorder(opts.record, source.fps, opts.record_codec)
    probs_ema = None
    topk: list[dict] = []
    model_ms = 0.0
    t0 = time.perf_counter()
    last_t = t0
    fps_ema = 0.0
    ahead = _Ahead(rt, pre, source, opts.in_flight) if (opts.in_flight > 1 and not source.live
                                                          and opts.every == 1) else None
    if show:  # no Qt toolbar: the picture is the interface
        cv2.namedWindow(opts.window, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
    try:
        while True:
            if opts.max_frames is not None and summary.frames >= opts.max_frames:
                summary.exit_reason = "max frames"
                break
            if opts.duration is not None and time.perf_counter() - t0 >= opts.duration:
                summary.exit_reason = "duration"
                break
            frame, ready = ahead.next() if ahead else (source.read(timeout=None if not source.live else 0.5), None)
            if frame is None:
                if source.live and not source.lost and source._thread.is_alive():
                    continue  # nothing new yet
                break
            summary.frames += 1
            # live: capture-to-result; files are read ahead on purpose, so their latency starts
            # when the loop takes the frame (queue time is not lag there)
            t_start = frame.t_capture if source.live else time.perf_counter()
            bgr = frame.image
            if (summary.frames - 1) % max(opts.every, 1) == 0:
                logits, model_ms = ready.result() if ready is not None else _infer_frame(rt, pre, bgr)
                p = probabilities(logits, spec)[0]
                probs_ema = p if probs_ema is None or not opts.smooth else opts.smooth * p + (1 - opts.smooth) * probs_ema
                topk = topk_entries(probs_ema, spec, opts.topk)
                summary.inferred += 1
                summary.model_ms.append(model_ms)
            now = time.perf_counter()
            latency = (now - t_start) * 1e3
            summary.latencies_ms.append(latency)
            dt = now - last_t
            last_t = now
            fps_ema = (1 / dt if dt > 0 else 0) if fps_ema == 0 else 0.9 * fps_ema + 0.1 * (1 / dt if dt > 0 else 0)
            record = {"source": name, "frame": frame.index, "pts_s": frame.pts, "elapsed_s": round(now - t0, 4),
                      "topk": topk, "latency_ms": round(latency, 3)}
            if opts.json_lines:
                out.write(json.dumps(record) + "\n")
                out.flush()
            if opts.on_frame is not None:
                opts.on_frame(record)
            if show or opts.record:
                model_fps = 1000.0 / model_ms if model_ms else 0.0
                draw_topk(bgr, topk[:3], [f"model {model_fps:.0f} FPS  end-to-end {fps_ema:.1f} FPS",
                                          f"latency {latency:.1f} ms"])
                recorder.write(bgr)
            if show:
                cv2.imshow(opts.window, bgr)
                key = cv2.waitKey(1) & 0xFF
                if key == ord(" "):  # pause until space again (or quit)
                    key = 0
                    while key not in (ord(" "), ord("q"), 27):
                        key = cv2.waitKey(50) & 0xFF
                if key in (ord("q"), 27):
                    summary.exit_reason = "quit"
                    break
                if key == ord("s"):
                    snap = opts.snapshot_dir / f"edgecv_snapshot_{summary.frames:06d}.png"
                    cv2.imwrite(str(snap), bgr)
                    info(f"snapshot {snap}")
    except KeyboardInterrupt:
        summary.exit_reason = "interrupted"
    finally:
        if ahead:
            ahead.close()
        recorder.close()
        source.close()
        if show:
            cv2.destroyAllWindows()
        summary.seconds = time.perf_counter() - t0
        summary.dropped, summary.corrupt = source.dropped, source.corrupt
        summary.reconnects, summary.lost = source.reconnects, source.lost
        if source.lost:
            summary.exit_reason = "source lost"
        summary.failed = _damage(source, summary)
    return summary


def _damage(source: Source, summary: Summary) -> str | None:
    """Why a video file did not play whole (live sources drop and reconnect by design: never)."""
    if source.live:
        return None
    if source.corrupt:
        return f"{source.corrupt} frames could not be decoded (a damaged file?)"
    if source.truncated:
        return f"the file is truncated (it ends early, after {summary.frames} frames)"
    declared = source.declared_frames
    # containers estimate their frame count from duration x fps: a frame or two of slack
    if summary.exit_reason == "end of stream" and declared and summary.frames < declared - max(2, declared // 100):
        return f"ended after {summary.frames} of the {declared} frames the file declares (truncated?)"
    return None
