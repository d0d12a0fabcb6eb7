"""A tiny local stand-in for an OpenAI-compatible server (NOT vLLM/LMDeploy): /v1/completions answers every prompt
with a fixed text per choice, /v1/chat/completions answers a fixed judge reply. It records the request bodies."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StandInOpenAIServer:
    def __init__(self, completion_text: str = "\\boxed{<}", judge_reply: str = "Score: \\boxed{7}"):
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "body": body})
                if self.path.endswith("/completions") and "chat" not in self.path:
                    prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
                    choices = [{"index": i * body.get("n", 1) + j, "text": f"{completion_text}",
                                "finish_reason": "stop" if j % 2 == 0 else "length"}
                               for i in range(len(prompts)) for j in range(body.get("n", 1))]
                    payload = {"choices": choices[::-1]}  # out of order on purpose: the client sorts by index
                else:
                    payload = {"choices": [{"index": 0, "message": {"role": "assistant", "content": judge_reply}}]}
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
