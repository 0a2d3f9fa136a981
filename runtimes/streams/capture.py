"""Frame sources for `edgecv run`: cameras, video files, image sequences, RTSP/HTTP streams.

Live sources (cameras, URLs) are read by a thread that always hands over the newest frame and
counts the stale ones it drops; ``CAP_PROP_BUFFERSIZE`` is not relied on (many backends ignore
it, and users then see seconds of lag over RTSP).  Files are read in order, every frame, by a
thread that stays a few frames ahead.  Lost live sources are reopened with backoff for
``reconnect`` seconds.
"""
from __future__ import annotations

import os
import platform
import queue
import threading
import time
from dataclasses import dataclass

import cv2
import numpy as np

from edgecv.errors import EdgecvError, ImageError
from edgecv.formats import is_url
from edgecv.runtimes.pipeline.images import DecodeOptions, read_image

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg's own chatter
# OpenCV's own log lines ("[ WARN:0@0.1] global cap_v4l.cpp ... can't open camera by index") would
# precede edgecv's one-line error: edgecv reports capture failures itself.
if hasattr(cv2, "setLogLevel"):
    cv2.setLogLevel(0)  # LOG_LEVEL_SILENT

def camera_backends() -> list[tuple[str, int]]:
    system = platform.system()
    if system == "Linux":
        return [("V4L2", cv2.CAP_V4L2), ("ANY", cv2.CAP_ANY)]
    if system == "Windows":
        return [("DSHOW", cv2.CAP_DSHOW), ("MSMF", cv2.CAP_MSMF), ("ANY", cv2.CAP_ANY)]
    if system == "Darwin":
        return [("AVFOUNDATION", cv2.CAP_AVFOUNDATION), ("ANY", cv2.CAP_ANY)]
    return [("ANY", cv2.CAP_ANY)]


@dataclass
class Frame:
    index: int  # frames read from the source so far (live: including the dropped ones)
    image: np.ndarray  # BGR uint8
    t_capture: float  # time.perf_counter() when it was read
    pts: float | None = None  # seconds into a video file (its timestamp); None for live sources


class ImageSequence:
    """``frame_%04d.png`` read through edgecv's own decoder (the part of ``cv2.VideoCapture`` that
    Source uses), so a sequence of photos is decoded exactly as the same photos given one by one:
    OpenCV's image-sequence capture would apply EXIF orientation whatever the spec says.  Numbering
    starts at the first of 0..4 that exists and ends at the first gap."""

    def __init__(self, pattern: str, decode: DecodeOptions):
        self.pattern, self.decode = pattern, decode
        self.start = next((i for i in range(5) if os.path.isfile(self._name(i))), None)
        self.pos = self.start
        self._next = None

    def _name(self, i: int) -> str:
        try:
            return self.pattern % i
        except (TypeError, ValueError):
            raise EdgecvError(f"{self.pattern} is not an image sequence pattern", "use e.g. frame_%04d.png") from None

    def isOpened(self) -> bool:  # noqa: N802 - cv2.VideoCapture's names
        return self.start is not None

    def grab(self) -> bool:
        name = self._name(self.pos)
        if not os.path.isfile(name):
            return False
        self.pos += 1
        try:
            self._next = np.ascontiguousarray(read_image(name, self.decode)[..., ::-1])  # BGR, as capture gives
        except ImageError:
            self._next = None
        return True

    def retrieve(self):
        return self._next is not None, self._next

    def get(self, prop):
        return 0.0

    def set(self, prop, value):
        if prop == cv2.CAP_PROP_POS_FRAMES:
            self.pos = self.start + int(value)

    def release(self):
        self._next = None


class Source:
    """Iterate ``Frame``s; ``stats`` says how many were dropped / corrupt; ``close()`` stops it."""

    def __init__(self, target: str | int, live: bool | None = None, reconnect: float = 3.0, loop: bool = False,
                 decode: DecodeOptions = DecodeOptions()):
        self.target = target
        self.decode = decode  # image sequences are decoded as single images are (EXIF, bit depth, size limit)
        self.is_camera = isinstance(target, int)
        self.live = live if live is not None else (self.is_camera or is_url(str(target)))
        self.reconnect = reconnect
        self.loop = loop
        self.dropped = 0
        self.corrupt = 0
        self.reconnects = 0
        self.lost = False
        self.fps = 0.0
        self.declared_frames = 0  # a video file's own frame count (0: unknown)
        self.truncated = False  # a file that visibly ends early (a GIF without its trailer)
        self.frame_size = None
        self._cap = self._open(first=True)
        self._stop = threading.Event()
        # live: at most one (the newest) frame waits, plus room for the end marker
        self._q: queue.Queue = queue.Queue(maxsize=2 if self.live else 4)
        self._thread = threading.Thread(target=self._run, name="edgecv-capture", daemon=True)
        self._thread.start()

    # -- opening ---------------------------------------------------------------------------------
    def _open(self, first: bool = False):
        if self.is_camera:
            tried = []
            for name, api in camera_backends():
                cap = cv2.VideoCapture(self.target, api)
                if cap.isOpened():
                    self._describe(cap)
                    return cap
                cap.release()
                tried.append(name)
            if first:
                raise EdgecvError(f"camera {self.target} could not be opened (capture backends tried: "
                                  f"{', '.join(tried)})", "check the index with `v4l2-ctl --list-devices`")
            return None
        if not self.live and "%" in str(self.target):
            seq = ImageSequence(str(self.target), self.decode)
            if not seq.isOpened() and first:
                raise EdgecvError(f"no file matches the image sequence {self.target}",
                                  "the pattern numbers frames as printf does: frame_%04d.png -> frame_0000.png, ...")
            return seq if seq.isOpened() else None
        if not self.live and not os.path.exists(self.target):
            raise EdgecvError(f"{self.target} does not exist")
        if not self.live and first:
            self._check_file(str(self.target))
        cap = cv2.VideoCapture(str(self.target), cv2.CAP_FFMPEG if self.live else cv2.CAP_ANY)
        if not cap.isOpened():
            cap.release()
            if first:
                raise EdgecvError(f"{self.target} could not be opened as a video or stream",
                                  "check the path / URL and that FFmpeg can read it")
            return None
        self._describe(cap)
        return cap

    def _check_file(self, path: str):
        """Before the decoder opens a file: its frame size from the header against the pixel limit
        (a 74 KB GIF can declare 10000 x 10000), and whether a GIF ends with its trailer."""
        from edgecv.runtimes.pipeline.images import HEADER_BYTES, declared_size

        with open(path, "rb") as f:
            head = f.read(HEADER_BYTES)
            f.seek(max(os.path.getsize(path) - 1, 0))
            last = f.read(1)
        size = declared_size(np.frombuffer(head, np.uint8))
        self._check_pixels(size)
        self.truncated = head[:4] == b"GIF8" and last != b"\x3b"  # every whole GIF ends with 0x3B

    def _check_pixels(self, size):
        limit = self.decode.max_pixels
        if size and limit and size[0] * size[1] > limit:
            w, h = size
            raise EdgecvError(f"{self.target}: frames of {w} x {h} = {w * h / 1e6:.0f} M pixels, over the limit of "
                              f"{limit / 1e6:.0f} M (a decompression bomb?); not decoded",
                              "raise the limit with --max-image-pixels if you trust the file")

    def _describe(self, cap):
        if not self.is_camera:
            self._check_pixels((int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))))
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 0 < fps < 1000 else 0.0
        if not self.live:
            n = cap.get(cv2.CAP_PROP_FRAME_COUNT)
            self.declared_frames = int(n) if 0 < n < 1e9 else 0

    # -- the reader thread -----------------------------------------------------------------------
    def _run(self):
        index = 0
        try:
            while not self._stop.is_set():
                if self._cap is None and not self._reopen():
                    break
                if not self._cap.grab():
                    if self.live:
                        self._cap.release()
                        self._cap = None
                        continue
                    if self.loop:
                        self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                        continue
                    break
                ok, img = self._cap.retrieve()
                now = time.perf_counter()
                pts = None if self.live else self._timestamp(index)
                index += 1
                if not ok or img is None or img.size == 0 or img.ndim != 3:
                    self.corrupt += 1
                    continue
                if self.frame_size is None:
                    self.frame_size = img.shape[:2]
                frame = Frame(index, img, now, pts)
                if self.live:
                    while True:  # keep only the newest frame: drop the stale one
                        try:
                            self._q.get_nowait()
                            self.dropped += 1
                        except queue.Empty:
                            break
                    self._q.put_nowait(frame)
                else:
                    while not self._stop.is_set():
                        try:
                            self._q.put(frame, timeout=0.1)
                            break
                        except queue.Full:
                            continue
        finally:
            if self._cap is not None:
                self._cap.release()
            self._finish()

    def _finish(self):
        """Queue the end marker behind the frames still waiting (never dropping one)."""
        while True:
            try:
                self._q.put(None, timeout=0.1)
                return
            except queue.Full:
                if self._stop.is_set():  # nobody reads any more
                    return

    def _timestamp(self, index: int) -> float | None:
        """The frame's time in the file: the container's timestamp, else index / fps."""
        ms = self._cap.get(cv2.CAP_PROP_POS_MSEC)
        if ms and ms > 0:
            return round(ms / 1000.0, 4)
        return round(index / self.fps, 4) if self.fps else None

    def _reopen(self) -> bool:
        deadline = time.monotonic() + self.reconnect
        delay = 0.1
        while not self._stop.is_set() and time.monotonic() < deadline:
            time.sleep(min(delay, max(deadline - time.monotonic(), 0)))
            self._cap = self._open()
            if self._cap is not None:
                self.reconnects += 1
                return True
            delay = min(delay * 2, 2.0)
        self.lost = True
        return False

    # -- consumer side ---------------------------------------------------------------------------
    def read(self, timeout: float | None = None) -> Frame | None:
        """The next frame (live: the newest); None at the end of the source."""
        try:
            item = self._q.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is None:
            self._q.put(None)  # stay at the end for later calls
        return item

    @property
    def done(self) -> bool:
        """The reader has stopped (end of file, or a live source lost for good)."""
        return not self._thread.is_alive()

    def close(self):
        self._stop.set()
        try:
            while True:
                self._q.get_nowait()
        except queue.Empty:
            pass
        self._thread.join(timeout=5)
