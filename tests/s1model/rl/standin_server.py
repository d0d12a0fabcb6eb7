"""A tiny local stand-in for an OpenAI-compatible server (NOT vLLM/LMDeploy/SGLang): /v1/completions answers every
prompt with a fixed text per choice, /v1/chat/completions answers a fixed judge reply. It records the request bodies.

With `weight_sync=True` it also speaks SGLang's weight-sync shape (GET /get_model_info, POST
/update_weights_from_disk) and stamps its completions with the weight_version it was last told to load. It does NOT
load the weights (its text stays fixed): it stands in for a serving engine where a test is about the verifiers and
rewards, not about what the policy writes. `s1 serve-model` is the real engine (tests/s1model/test_serve_model.py)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StandInOpenAIServer:
    def __init__(self, completion_text: str = "\\boxed{<}", judge_reply: str = "Score: \\boxed{7}",
                 weight_sync: bool = False):
        self.requests: list[dict] = []
        self.weight_version: str | None = None
        self.loaded: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, payload: dict, code: int = 200):
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if weight_sync and self.path.rstrip("/").endswith("/get_model_info"):
                    return self._send({"model_path": outer.loaded[-1] if outer.loaded else None,
                                       "weight_version": outer.weight_version})
                self._send({"error": "not found"}, 404)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "body": body})
                if self.path.rstrip("/").endswith("/update_weights_from_disk"):
                    if not weight_sync:
                        return self._send({"error": "not found"}, 404)
                    if body.get("model_path"):
                        outer.loaded.append(body["model_path"])
                        outer.weight_version = str(body.get("weight_version"))
                    return self._send({"success": True, "message": "stand-in: version recorded, weights not loaded",
                                       "weight_version": outer.weight_version})
                if self.path.endswith("/completions") and "chat" not in self.path:
                    prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
                    choices = [{"index": i * body.get("n", 1) + j, "text": f"{completion_text}",
                                "finish_reason": "stop" if j % 2 == 0 else "length"}
                               for i in range(len(prompts)) for j in range(body.get("n", 1))]
                    payload = {"choices": choices[::-1]}  # out of order on purpose: the client sorts by index
                    if weight_sync:
                        payload["weight_version"] = outer.weight_version
                else:
                    payload = {"choices": [{"index": 0, "message": {"role": "assistant", "content": judge_reply}}]}
                self._send(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
