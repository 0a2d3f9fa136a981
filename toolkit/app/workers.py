"""Work the window hands to other threads, so it never freezes: classifying a folder, and
classifying the frames of a camera / video / stream source."""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QThread, Signal

from edgecv.runtimes.pipeline.classify import classify_paths, probabilities, topk_entries
from edgecv.runtimes.pipeline.preprocess import preprocessor_for


class FolderWorker(QThread):
    """Classify ``paths`` in order (decoding overlapped with inference, as `edgecv run` does)."""

    result = Signal(int, object, float)  # index, Result, milliseconds per image so far

    def __init__(self, rt, paths: list[Path], topk: int, lock):
        super().__init__()
        self.rt, self.paths, self.topk, self.lock = rt, paths, topk, lock
        self._stop = False

    def stop(self):
        self._stop = True

    def run(self):
        t0 = time.perf_counter()
        with self.lock:  # one inference at a time on the runtime
            for i, r in enumerate(classify_paths(self.rt, self.paths, batch_size=8, topk=self.topk)):
                if self._stop:
                    return
                self.result.emit(i, r, (time.perf_counter() - t0) * 1e3 / (i + 1))


class StreamWorker(QThread):
    """Newest frame from a capture ``Source`` -> top-k, with the numbers `edgecv run` overlays."""

    frame = Signal(object, list, dict)  # BGR frame, top-k, stats
    finished_stream = Signal(str)

    def __init__(self, rt, source, topk: int, lock):
        super().__init__()
        self.rt, self.source, self.topk, self.lock = rt, source, topk, lock
        self._stop = False

    def stop(self):
        self._stop = True

    def run(self):
        pre = preprocessor_for(self.rt.spec)
        shown, t0 = 0, time.perf_counter()
        while not self._stop:
            f = self.source.read(timeout=0.2)
            if f is None:
                if self.source.done:
                    break
                continue
            t = time.perf_counter()
            with self.lock:
                probs = probabilities(self.rt.infer(pre(f.image, "BGR")[None]), self.rt.spec)[0]
            latency = (time.perf_counter() - t) * 1e3
            shown += 1
            fps = shown / max(time.perf_counter() - t0, 1e-9)
            self.frame.emit(f.image, topk_entries(probs, self.rt.spec, self.topk),
                            {"fps": fps, "latency_ms": latency, "frame": f.index, "dropped": self.source.dropped})
        self.source.close()
        self.finished_stream.emit("source lost" if self.source.lost else "end of stream")
