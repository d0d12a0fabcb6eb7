"""`s1 serve-model`: the built-in rollout engine (s1model.rl.generate) behind an OpenAI-compatible HTTP server, with
SGLang's weight-reload call, so online RL with `backend="openai"` trains on samples of the policy it just updated.

Endpoints (loopback by default; one generation at a time, requests queue on a lock):
  POST /v1/completions            prompt (str | [str]), n, max_tokens, temperature, top_p, seed; choices with text,
                                  finish_reason "stop" (EOS) | "length"; `return_token_ids: true` adds token_ids and
                                  prompt_token_ids per choice (vLLM's extension); `logprobs: k` adds token_logprobs.
  POST /v1/chat/completions       messages -> the contents joined by newlines, then the same engine.
  GET  /v1/models                 the served model name.
  GET  /get_model_info            SGLang's: model_path, plus weight_version and weights_sha256.
  POST /update_weights_from_disk  SGLang's: {"model_path": dir, "weight_version"?: str}; loads the HF checkpoint in
                                  dir, answers {"success", "message", "weight_version", "weights_sha256"}.
Every completion response carries `system_fingerprint` = the served weights' sha256 (OpenAI's field for "which
backend configuration answered") and `weight_version`, so a client can refuse samples of a stale policy.

The weights hash is `weights_sha256(dir)`: sha256 over the names and bytes of the checkpoint's *.safetensors files;
the trainer computes the same on the directory it wrote.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch

log = logging.getLogger(__name__)


def weights_sha256(model_dir: str) -> str:
    """sha256 over (file name, bytes) of every *.safetensors file of an HF checkpoint directory, in name order."""
    files = sorted(glob.glob(os.path.join(model_dir, "*.safetensors")))
    if not files:
        raise FileNotFoundError(f"no *.safetensors in {model_dir}: not an HF checkpoint directory")
    h = hashlib.sha256()
    for path in files:
        h.update(os.path.basename(path).encode() + b"\0")
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
    return h.hexdigest()


class ModelServer:
    """The served policy: an HF causal LM, our tokenizer, the engine, the weight version and hash."""

    def __init__(self, model_path: str, tokenizer_path: str | None = None, served_model_name: str = "policy",
                 max_batch_size: int = 64, device: str | None = None):
        from s1data.tokenizer import load_tokenizer

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer_path = tokenizer_path or model_path
        self.tokenizer = load_tokenizer(self.tokenizer_path)
        self.served_model_name = served_model_name
        self.max_batch_size = max_batch_size
        self.lock = threading.Lock()
        self.model = None
        self.model_path = ""
        self.weight_version = ""
        self.weights_sha256 = ""
        self.load(model_path, "0")

    def load(self, model_path: str, weight_version: str | None = None) -> None:
        """Load the HF checkpoint in model_path (fp32 on CPU, bf16 on CUDA) and make it the served policy."""
        from transformers import AutoModelForCausalLM

        digest = weights_sha256(model_path)
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype).to(self.device).eval()
        with self.lock:
            self.model = model
            self.model_path = os.path.abspath(model_path)
            self.weights_sha256 = digest
            self.weight_version = weight_version if weight_version is not None else str(
                int(self.weight_version) + 1 if self.weight_version.isdigit() else 1)

    def info(self) -> dict:
        return {"model_path": self.model_path, "tokenizer_path": self.tokenizer_path, "is_generation": True,
                "served_model_name": self.served_model_name, "weight_version": self.weight_version,
                "weights_sha256": self.weights_sha256}

    def complete(self, prompts: list[str], n: int, max_tokens: int, temperature: float, top_p: float,
                 seed: int | None, return_token_ids: bool = False, logprobs: int | None = None) -> dict:
        """An OpenAI completions response for n completions of every prompt (choice index = prompt * n + j)."""
        from s1model.rl.generate import SamplingParams, generate

        tok = self.tokenizer
        ids = tok.encode_batch(prompts)
        params = SamplingParams(max_new_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed)
        with self.lock:
            flat = generate(self.model, [p for p in ids for _ in range(n)], params, tok.eos_id, tok.pad_id,
                            self.max_batch_size)
            version, digest = self.weight_version, self.weights_sha256
        choices, n_completion = [], 0
        for i, c in enumerate(flat):
            body = c.token_ids[:-1] if c.finish_reason == "eos" else c.token_ids
            n_completion += len(c.token_ids)
            choice = {"index": i, "text": tok.decode(body), "finish_reason": "stop" if c.finish_reason == "eos"
                      else "length", "logprobs": None}
            if return_token_ids:
                choice["token_ids"], choice["prompt_token_ids"] = list(c.token_ids), list(c.prompt_ids)
            if logprobs is not None:
                choice["logprobs"] = {"token_logprobs": list(c.logprobs)}
            choices.append(choice)
        return {"id": f"cmpl-{time.time_ns()}", "object": "text_completion", "created": int(time.time()),
                "model": self.served_model_name, "system_fingerprint": digest, "weight_version": version,
                "choices": choices,
                "usage": {"prompt_tokens": sum(len(p) for p in ids) * n, "completion_tokens": n_completion,
                          "total_tokens": sum(len(p) for p in ids) * n + n_completion}}


def _sampling_args(body: dict) -> dict:
    return {"n": int(body.get("n", 1)), "max_tokens": int(body.get("max_tokens") or 16),
            "temperature": float(body.get("temperature", 1.0)), "top_p": float(body.get("top_p", 1.0)),
            "seed": body.get("seed")}


def make_http_server(server: ModelServer, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A ThreadingHTTPServer answering the endpoints of the module doc; `.server_address` has the bound port."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            log.debug(fmt, *args)

        def _send(self, code: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, code: int, message: str) -> None:
            self._send(code, {"error": {"message": message, "type": "invalid_request_error", "code": code}})

        def do_GET(self):
            path = self.path.split("?")[0].rstrip("/")
            if path in ("/get_model_info", "/v1/get_model_info"):
                self._send(200, server.info())
            elif path == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": server.served_model_name, "object": "model",
                                                             "owned_by": "s1", "root": server.model_path}]})
            elif path in ("/health", "/v1/health"):
                self._send(200, {"status": "ok"})
            else:
                self._error(404, f"no route GET {path}")

        def do_POST(self):
            path = self.path.split("?")[0].rstrip("/")
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            except json.JSONDecodeError as e:
                return self._error(400, f"body is not JSON: {e}")
            try:
                if path == "/v1/completions":
                    prompt = body.get("prompt")
                    prompts = prompt if isinstance(prompt, list) else [prompt]
                    if not prompts or not all(isinstance(p, str) for p in prompts):
                        return self._error(400, "prompt must be a string or a list of strings")
                    lp = body.get("logprobs")
                    self._send(200, server.complete(prompts, **_sampling_args(body),
                                                    return_token_ids=bool(body.get("return_token_ids")),
                                                    logprobs=int(lp) if lp is not None else None))
                elif path == "/v1/chat/completions":
                    msgs = body.get("messages") or []
                    text = "\n".join(str(m.get("content", "")) for m in msgs) + "\n"
                    out = server.complete([text], **_sampling_args(body))
                    out["object"] = "chat.completion"
                    out["choices"] = [{"index": c["index"], "finish_reason": c["finish_reason"],
                                       "message": {"role": "assistant", "content": c["text"]}}
                                      for c in out["choices"]]
                    self._send(200, out)
                elif path == "/update_weights_from_disk":
                    model_path = body.get("model_path")
                    if not model_path or not os.path.isdir(model_path):
                        return self._send(400, {"success": False, "message": f"model_path {model_path!r} is not "
                                                                            "a directory"})
                    wv = body.get("weight_version")
                    server.load(model_path, None if wv is None else str(wv))
                    self._send(200, {"success": True, "message": f"loaded {model_path}", "num_paused_requests": 0,
                                     "weight_version": server.weight_version,
                                     "weights_sha256": server.weights_sha256})
                else:
                    self._error(404, f"no route POST {path}")
            except Exception as e:  # a bad request must not kill the server; the client sees why
                log.exception("request %s failed", path)
                self._send(500, {"success": False, "error": {"message": f"{type(e).__name__}: {e}"},
                                 "message": f"{type(e).__name__}: {e}"})

    return ThreadingHTTPServer((host, port), Handler)


def serve_model(model_path: str, tokenizer_path: str | None = None, host: str = "127.0.0.1", port: int = 30000,
                served_model_name: str = "policy", max_batch_size: int = 64, ready_file: str | None = None) -> None:
    """Load the model and serve until interrupted. ready_file: written with {"port", "base_url"} once listening
    (port=0 picks a free port)."""
    server = ModelServer(model_path, tokenizer_path, served_model_name, max_batch_size)
    httpd = make_http_server(server, host, port)
    bound = httpd.server_address[1]
    info = {"port": bound, "base_url": f"http://{host}:{bound}/v1", "weights_sha256": server.weights_sha256}
    if ready_file:
        tmp = ready_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(info, f)
        os.replace(tmp, ready_file)
    log.info("serving %s on %s", model_path, info["base_url"])
    print(f"s1 serve-model: {model_path} on {info['base_url']} (weights {server.weights_sha256[:12]})", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
