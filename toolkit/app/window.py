"""The main window: an image (or a live frame) and its top-k classes as labelled bars."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QInputDialog, QLabel, QMainWindow,
                               QProgressBar, QPushButton, QVBoxLayout, QWidget)

from edgecv.errors import EdgecvError
from edgecv.formats import IMAGE_SUFFIXES, is_image, model_suffixes
from edgecv.runtimes import BACKENDS, load
from edgecv.runtimes.pipeline.classify import classify_paths, write_csv
from edgecv.runtimes.pipeline.images import DecodeOptions, read_image
from edgecv.runtimes.pipeline.sources import expand_sources
from edgecv.runtimes.streams.overlay import draw_topk

TOPK = 5


def to_pixmap(rgb: np.ndarray) -> QPixmap:
    h, w = rgb.shape[:2]
    rgb = np.ascontiguousarray(rgb)
    return QPixmap.fromImage(QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy())


class ClassifierWindow(QMainWindow):
    def __init__(self, model: str | None = None, backend: str = "auto"):
        super().__init__()
        self.setWindowTitle("edgecv")
        self.setAcceptDrops(True)
        self.rt, self.model_path, self.backend = None, None, backend
        self.lock = threading.Lock()  # one inference at a time on the runtime
        self.paths: list[Path] = []
        self.results: dict[int, object] = {}
        self.latency: dict[int, float] = {}  # ms per image (decode + preprocess + model)
        self.index = -1
        self.folder_worker = self.stream_worker = None

        self.image = QLabel("Open an image or a folder, or drop files here", alignment=Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumSize(480, 360)
        self.bars = [QProgressBar(maximum=1000, textVisible=True) for _ in range(TOPK)]
        self.progress = QProgressBar(visible=False)
        self.status = QLabel()
        self.message = QLabel(styleSheet="color: #b00020")
        for label in (self.image, self.status, self.message):  # file names and labels are data, never HTML
            label.setTextFormat(Qt.TextFormat.PlainText)
        self.backend_box = QComboBox()
        self.backend_box.addItems(["auto", *BACKENDS])
        self.backend_box.setCurrentText(backend)
        self.backend_box.currentTextChanged.connect(self.switch_backend)

        buttons = QHBoxLayout()
        for text, slot in [("Model...", self.choose_model), ("Image...", self.choose_image),
                           ("Folder...", self.choose_folder), ("Camera / video...", self.choose_stream),
                           ("Save CSV...", self.choose_csv)]:
            b = QPushButton(text)
            b.clicked.connect(slot)
            buttons.addWidget(b)
        buttons.addWidget(QLabel("backend"))
        buttons.addWidget(self.backend_box)
        side = QVBoxLayout()
        for bar in self.bars:
            side.addWidget(bar)
        side.addStretch()
        body = QHBoxLayout()
        body.addWidget(self.image, 3)
        body.addLayout(side, 1)
        root = QVBoxLayout()
        root.addLayout(buttons)
        root.addLayout(body)
        root.addWidget(self.progress)
        root.addWidget(self.message)
        root.addWidget(self.status)
        central = QWidget()
        central.setLayout(root)
        self.setCentralWidget(central)
        QShortcut(QKeySequence(Qt.Key.Key_Right), self, lambda: self.show_index(self.index + 1))
        QShortcut(QKeySequence(Qt.Key.Key_Left), self, lambda: self.show_index(self.index - 1))
        self.show_bars([])
        if model:
            self.load_model(model)

    # -- model -------------------------------------------------------------------------------------
    def load_model(self, path, backend: str | None = None) -> bool:
        backend = backend or self.backend
        try:
            rt = load(path, backend).activate()
        except EdgecvError as e:
            self.error(str(e))
            return False
        self.stop_workers()
        if self.rt is not None:
            self.rt.deactivate()
        self.rt, self.model_path, self.backend = rt, Path(path), backend
        self.results.clear()
        self.latency.clear()
        self.error("")
        self.update_status()
        if 0 <= self.index < len(self.paths):
            self.show_index(self.index)
        return True

    def switch_backend(self, backend: str):
        if self.model_path is not None and backend != self.backend and not self.load_model(self.model_path, backend):
            self.backend_box.setCurrentText(self.backend)

    def update_status(self, extra: str = ""):
        if self.rt is None:
            self.status.setText("no model: Model... opens one (.onnx, .engine, or .pt where torch is installed)")
            return
        s = self.rt.spec
        self.status.setText(f"{self.model_path.name}  |  {self.rt.name}  |  input {s.input_size[0]}x{s.input_size[1]}"
                            f" {s.channel_order}  |  {s.num_classes} classes" + (f"  |  {extra}" if extra else ""))

    # -- images and folders ------------------------------------------------------------------------
    def open_paths(self, sources: list[str]):
        try:
            paths = expand_sources(sources)
        except EdgecvError as e:
            self.error(str(e))
            return
        self.stop_workers()
        self.paths, self.results, self.latency, self.index = paths, {}, {}, -1
        self.show_index(0)
        if len(paths) > 1 and self.rt is not None:
            from edgecv.app.workers import FolderWorker

            self.progress.setRange(0, len(paths))
            self.progress.setValue(0)
            self.progress.setVisible(True)
            self.folder_worker = FolderWorker(self.rt, paths, TOPK, self.lock)
            self.folder_worker.result.connect(self.on_result)
            self.folder_worker.finished.connect(lambda: self.progress.setVisible(False))
            self.folder_worker.start()

    def on_result(self, i: int, result, ms: float):
        self.results[i], self.latency[i] = result, ms
        self.progress.setValue(len(self.results))
        if i == self.index:
            self.show_index(i)

    def result_for(self, i: int):
        if i not in self.results and self.rt is not None:
            t = time.perf_counter()
            with self.lock:
                self.results[i] = next(classify_paths(self.rt, [self.paths[i]], topk=TOPK, workers=1))
            self.latency[i] = (time.perf_counter() - t) * 1e3
        return self.results.get(i)

    def show_index(self, i: int):
        if not self.paths or not 0 <= i < len(self.paths):
            return
        self.index = i
        path = self.paths[i]
        self.setWindowTitle(f"edgecv - {path.name} ({i + 1}/{len(self.paths)})")
        spec = self.rt.spec if self.rt is not None else None
        try:
            rgb = read_image(path, DecodeOptions.for_spec(spec) if spec else DecodeOptions())
            self.image.setPixmap(to_pixmap(rgb).scaled(self.image.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                                       Qt.TransformationMode.SmoothTransformation))
        except EdgecvError as e:
            self.image.setText(f"cannot show {path.name}")
            self.error(str(e))
            self.show_bars([])
            return
        r = self.result_for(i) if i in self.results or self.folder_worker is None else self.results.get(i)
        if r is None:
            self.show_bars([])
            return
        self.error(r.error or "")
        self.show_bars(r.topk)
        self.update_status(f"{self.latency[i]:.1f} ms per image" if i in self.latency else "")

    def shown_top1(self) -> dict | None:
        """What the window shows as the top class (tests compare it with `edgecv run`)."""
        r = self.results.get(self.index)
        return r.topk[0] if r is not None and r.topk else None

    def show_bars(self, topk: list[dict]):
        for bar, entry in zip(self.bars, list(topk) + [None] * TOPK):
            bar.setValue(int(round(entry["prob"] * 1000)) if entry else 0)
            text = f"{entry['label']}  {entry['prob']:.1%}" if entry else ""
            bar.setFormat(text.replace("%", "%%"))  # %p / %v / %m are placeholders there: every % is literal

    def error(self, text: str):
        self.message.setText(text)

    # -- camera / video / stream -------------------------------------------------------------------
    def open_stream(self, target):
        if self.rt is None:
            self.error("open a model first")
            return
        from edgecv.app.workers import StreamWorker
        from edgecv.runtimes.streams.capture import Source

        self.stop_workers()
        try:
            source = Source(target, decode=DecodeOptions.for_spec(self.rt.spec))
        except EdgecvError as e:
            self.error(str(e))
            return
        self.error("")
        self.stream_worker = StreamWorker(self.rt, source, TOPK, self.lock)
        self.stream_worker.frame.connect(self.on_frame)
        self.stream_worker.finished_stream.connect(lambda why: self.update_status(why))
        self.stream_worker.start()

    def on_frame(self, bgr, topk, stats):
        lines = [f"{stats['fps']:.1f} FPS  {stats['latency_ms']:.1f} ms  frame {stats['frame']}"
                 f"  dropped {stats['dropped']}"]
        rgb = cv2.cvtColor(draw_topk(bgr.copy(), topk[:3], lines), cv2.COLOR_BGR2RGB)
        self.image.setPixmap(to_pixmap(rgb).scaled(self.image.size(), Qt.AspectRatioMode.KeepAspectRatio))
        self.show_bars(topk)
        self.update_status(f"{stats['latency_ms']:.1f} ms per frame")

    def stop_workers(self):
        for w in (self.folder_worker, self.stream_worker):
            if w is not None:
                w.stop()
                w.wait()
        self.folder_worker = self.stream_worker = None

    # -- dialogs, drag and drop, CSV ---------------------------------------------------------------
    def choose_model(self):
        path, _ = QFileDialog.getOpenFileName(self, "Model", "", f"Models (*{' *'.join(model_suffixes())})")
        if path:
            self.load_model(path)

    def choose_image(self):
        path, _ = QFileDialog.getOpenFileName(self, "Image", "", f"Images (*{' *'.join(IMAGE_SUFFIXES)})")
        if path:
            self.open_paths([path])

    def choose_folder(self):
        path = QFileDialog.getExistingDirectory(self, "Folder of images")
        if path:
            self.open_paths([path])

    def choose_stream(self):
        text, ok = QInputDialog.getText(self, "Camera / video / stream",
                                        "camera index (0), video file, or rtsp:// / http:// URL")
        if ok and text.strip():
            self.open_stream(int(text) if text.strip().isdigit() else text.strip())

    def choose_csv(self):
        path, _ = QFileDialog.getSaveFileName(self, "Save results", "results.csv", "CSV (*.csv)")
        if path:
            self.save_csv(Path(path))

    def save_csv(self, path: Path) -> int:
        """The results of the open images as CSV (the format of `edgecv run --csv`); returns the images written."""
        for i in range(len(self.paths)):  # classify what the folder worker has not reached yet
            self.result_for(i)
        results = [r for _, r in sorted(self.results.items())]
        write_csv(path, results)
        return len(results)

    def dragEnterEvent(self, event):  # noqa: N802 - Qt's names
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event):  # noqa: N802
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        models = [f for f in files if Path(f).suffix.lower() in model_suffixes()]
        if models:
            self.load_model(models[0])
        rest = [f for f in files if f not in models and (Path(f).is_dir() or is_image(f))]
        if rest:
            self.open_paths(rest)

    def closeEvent(self, event):  # noqa: N802
        self.stop_workers()
        if self.rt is not None:
            self.rt.deactivate()
        super().closeEvent(event)

