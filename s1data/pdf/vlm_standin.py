"""STAND-IN for a hosted vision-language model: a local server speaking the OpenAI chat-completions API.

Intern-S1 routed hard pages to a VLM; none can run here, so this stand-in answers `POST /v1/chat/completions` by
running Tesseract on the image it receives (mode "ocr") or by describing the image it got (mode "echo": fast, for
tests of the client), and returns the text. It exists to test the `vlm` route end to end (request shape, prompt,
base64 page image, response parsing, retries, timeouts, concurrency); point `PdfConfig.vlm_url` at a real endpoint
(vLLM, LMDeploy, a hosted API) in production. It is not a model: its output is OCR text, not Markdown + LaTeX.

Faults for tests: `StandIn.faults` is a list consumed one per request: an int answers with that HTTP status (e.g.
503, 429), a float sleeps that many seconds before answering (a slow model, for timeouts), None answers normally.

Run it with `python -m s1data.pdf.vlm_standin --port 8765 [--mode echo]`.
"""

from __future__ import annotations

import base64
import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StandIn:
    """Shared state of one stand-in server: what it saw, what it should do next."""

    def __init__(self, mode: str = "ocr"):
        self.mode = mode
        self.faults: list[int | float | None] = []
        self.requests_seen: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()

    def next_fault(self) -> int | float | None:
        with self.lock:
            return self.faults.pop(0) if self.faults else None


class _Handler(BaseHTTPRequestHandler):
    state: StandIn = StandIn()
    requests_seen: list[dict] = state.requests_seen  # kept for callers of the first version

    def log_message(self, *args) -> None:  # quiet
        pass

    def _json(self, code: int, obj: dict) -> None:
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        st = self.state
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self.send_error(404, "only /v1/chat/completions")
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        with st.lock:
            st.in_flight += 1
            st.max_in_flight = max(st.max_in_flight, st.in_flight)
        try:
            image, prompt = None, None
            for part in body["messages"][-1]["content"]:
                if part.get("type") == "image_url":
                    image = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
                elif part.get("type") == "text":
                    prompt = part["text"]
            fault = st.next_fault()
            st.requests_seen.append({"model": body.get("model"), "image_bytes": len(image or b""), "prompt": prompt,
                                     "fault": fault, "authorization": self.headers.get("Authorization")})
            if isinstance(fault, float):
                time.sleep(fault)
            elif isinstance(fault, int):
                self._json(fault, {"error": {"message": f"stand-in fault {fault}"}})
                return
            if image is None:
                self._json(400, {"error": {"message": "no image_url part"}})
                return
            if st.mode == "echo":
                text = f"[vlm-standin] page image, {len(image)} bytes of PNG"
            else:
                text = "[vlm-standin] " + subprocess.run(["tesseract", "stdin", "stdout"], input=image,
                                                         capture_output=True, timeout=120).stdout.decode("utf-8",
                                                                                                         "replace")
            try:
                self._json(200, {"id": "standin", "object": "chat.completion", "model": body.get("model"),
                                 "choices": [{"index": 0, "finish_reason": "stop",
                                              "message": {"role": "assistant", "content": text}}]})
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout)
                pass
        finally:
            with st.lock:
                st.in_flight -= 1


def start(port: int = 0, mode: str = "ocr") -> tuple[ThreadingHTTPServer, str]:
    """Start a stand-in in a background thread; returns (server, base_url ending in /v1).

    `server.state` is its StandIn (faults to inject, requests seen, the most requests it had in flight at once).
    """
    state = StandIn(mode)
    handler = type("Handler", (_Handler,), {"state": state, "requests_seen": state.requests_seen})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    server.state = state  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--mode", choices=["ocr", "echo"], default="ocr")
    a = ap.parse_args()
    srv, url = start(a.port, a.mode)
    print(f"vlm stand-in on {url}", flush=True)
    threading.Event().wait()
