"""STAND-IN for a hosted LLM: a local server speaking the OpenAI chat-completions API, for rewriting tests.

Intern-S1 rewrote the pages of low-quality but science-rich domains with an LLM; none can run here, so this stand-in
answers `POST /v1/chat/completions` by "rewriting" deterministically: it takes the document (between <document> and
</document> in the last user message, else the whole message) and normalises its whitespace (lines stripped, runs of
spaces collapsed, empty lines dropped). It exists to test `s1data.web.rewrite` end to end (request shape, bounded
concurrency, timeouts, retries, error reasons); point `RewriteConfig.url` at a real endpoint (vLLM, LMDeploy, a
hosted API) in production. Run it with `python -m s1data.web.llm_standin --port 8766`.

Behaviour for tests, per document: a directive in its text, removed from the answer,
- `[[standin:delay=S]]`: sleep S seconds before answering;
- `[[standin:status=C]]`: answer HTTP C every time; `[[standin:status=CxN]]`: the first N times this document comes;
- `[[standin:empty]]`: an empty completion; `[[standin:length]]`: finish_reason "length".
Or for every request: `start(delay_s=..., status=...)`. The server records requests (`server.state`): their count,
the Authorization headers seen, and the peak number of requests being answered at once.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_DIRECTIVE = re.compile(r"\[\[standin:(delay=[0-9.]+|status=\d{3}(?:x\d+)?|empty|length)\]\]")
_DOCUMENT = re.compile(r"<document>\n?(.*?)\n?</document>", re.S)


def standin_rewrite(text: str) -> str:
    """The stand-in's deterministic 'rewrite': whitespace normalised, directives removed."""
    text = _DIRECTIVE.sub("", text)
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


class StandinState:
    def __init__(self, delay_s: float = 0.0, status: int | None = None):
        self.delay_s, self.status = delay_s, status
        self.lock = threading.Lock()
        self.requests = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.authorization: list[str | None] = []
        self.seen: dict[str, int] = {}  # document → times it came


class _Handler(BaseHTTPRequestHandler):
    server: "StandinServer"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _reply(self, code: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout)
            pass

    def do_POST(self) -> None:
        st = self.server.state
        with st.lock:
            st.requests += 1
            st.in_flight += 1
            st.peak_in_flight = max(st.peak_in_flight, st.in_flight)
            st.authorization.append(self.headers.get("Authorization"))
        try:
            self._answer(st)
        finally:
            with st.lock:
                st.in_flight -= 1

    def _answer(self, st: StandinState) -> None:
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._reply(404, {"error": {"message": "only /v1/chat/completions"}})
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        content = body["messages"][-1]["content"]
        m = _DOCUMENT.search(content)
        doc = m.group(1) if m else content
        with st.lock:
            st.seen[doc] = n = st.seen.get(doc, 0) + 1
        directives = _DIRECTIVE.findall(doc)
        delay, status, finish, answer = st.delay_s, st.status, "stop", standin_rewrite(doc)
        for d in directives:
            if d.startswith("delay="):
                delay = float(d[6:])
            elif d.startswith("status="):
                code, _, times = d[7:].partition("x")
                if not times or n <= int(times):
                    status = int(code)
            elif d == "empty":
                answer = ""
            elif d == "length":
                finish = "length"
        if delay:
            time.sleep(delay)
        if status and status != 200:
            self._reply(status, {"error": {"message": f"stand-in status {status}"}})
            return
        self._reply(200, {"id": f"standin-{st.requests}", "object": "chat.completion", "model": body.get("model"),
                          "choices": [{"index": 0, "finish_reason": finish,
                                       "message": {"role": "assistant", "content": answer}}]})


class StandinServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, port: int, state: StandinState):
        super().__init__(("127.0.0.1", port), _Handler)
        self.state = state


def start(port: int = 0, delay_s: float = 0.0, status: int | None = None) -> tuple[StandinServer, str]:
    """Start the stand-in in a background thread; returns (server, base_url ending in /v1). Stop it with
    `server.shutdown(); server.server_close()`."""
    server = StandinServer(port, StandinState(delay_s, status))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8766)
    ap.add_argument("--delay", type=float, default=0.0, help="seconds to wait before every answer")
    a = ap.parse_args()
    srv, url = start(a.port, a.delay)
    print(f"llm stand-in on {url}", flush=True)
    threading.Event().wait()
