"""STAND-IN for a hosted vision-language model: a local server speaking the OpenAI chat-completions API.

Intern-S1 routed hard pages to a VLM; none can run here, so this stand-in answers `POST /v1/chat/completions` by
running Tesseract on the image it receives and returning the text. It exists to test the `vlm` route end to end
(request shape, base64 page image, response parsing, errors); point `PdfConfig.vlm_url` at a real endpoint (vLLM,
LMDeploy, a hosted API) in production. Run it with `python -m s1data.pdf.vlm_standin --port 8765`.
"""

from __future__ import annotations

import base64
import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    requests_seen: list[dict] = []

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self.send_error(404, "only /v1/chat/completions")
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        image = None
        for part in body["messages"][-1]["content"]:
            if part.get("type") == "image_url":
                image = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
        if image is None:
            self.send_error(400, "no image_url part")
            return
        _Handler.requests_seen.append({"model": body.get("model"), "image_bytes": len(image)})
        text = subprocess.run(["tesseract", "stdin", "stdout"], input=image, capture_output=True,
                              timeout=120).stdout.decode("utf-8", "replace")
        out = {"id": "standin", "object": "chat.completion", "model": body.get("model"),
               "choices": [{"index": 0, "finish_reason": "stop",
                            "message": {"role": "assistant", "content": "[vlm-standin] " + text}}]}
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def start(port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Start the stand-in in a background thread; returns (server, base_url ending in /v1)."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8765)
    srv, url = start(ap.parse_args().port)
    print(f"vlm stand-in on {url}", flush=True)
    threading.Event().wait()
