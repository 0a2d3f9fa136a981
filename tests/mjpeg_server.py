"""A tiny MJPEG-over-HTTP server on 127.0.0.1 standing in for a live camera (tests only)."""
from __future__ import annotations

import http.server
import socketserver
import threading
import time

import cv2


class MJPEGServer:
    """Serves ``frames`` (BGR arrays) at ``fps``; after ``disconnect_after`` frames it drops the
    connection and refuses to serve again until ``resume()`` (a camera that went away)."""

    def __init__(self, frames, fps=30.0, disconnect_after=None, loop=False):
        self.jpegs = [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes() for f in frames]
        self.fps, self.disconnect_after, self.loop = fps, disconnect_after, loop
        self.sent = 0
        self.available = threading.Event()
        self.available.set()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if not server.available.is_set():
                    self.send_error(503)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                i = 0
                try:
                    while server.loop or i < len(server.jpegs):
                        jpg = server.jpegs[i % len(server.jpegs)]
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                         + str(len(jpg)).encode() + b"\r\n\r\n" + jpg + b"\r\n")
                        self.wfile.flush()
                        server.sent += 1
                        i += 1
                        if server.disconnect_after and server.sent >= server.disconnect_after:
                            server.available.clear()
                            return
                        time.sleep(1.0 / server.fps)
                except (BrokenPipeError, ConnectionResetError):
                    return

            def log_message(self, *args):
                pass

        self.httpd = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/stream.mjpg"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
