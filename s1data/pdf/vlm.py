"""The VLM route: page images to an OpenAI-compatible vision endpoint, Markdown + LaTeX back.

Pages are sent `concurrency` at a time (threads: the work is waiting on the network); each request has a timeout,
and a request that times out, cannot connect, or gets 429 / 5xx is retried up to `max_retries` times with
exponential backoff (honouring a `Retry-After` header, capped). Any other 4xx is the caller's fault and is not
retried. Every page gets a `VlmResult` with its text or its error, the attempts and the seconds spent, so the
caller records the model's output (or the reason there is none) per page.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

log = logging.getLogger(__name__)

VLM_PROMPT = (
    "Transcribe this page of a scientific document to Markdown, in reading order. Write every formula in LaTeX: "
    "inline formulas as $...$, display formulas as $$...$$ on lines of their own, keeping the rows of aligned "
    "equations and matrices. Keep headings as Markdown headings and tables as Markdown tables; replace figures by "
    "their captions. Output only the transcription."
)
_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


@dataclass
class VlmResult:
    text: str | None
    error: str | None
    attempts: int
    seconds: float


class VlmClient:
    """An OpenAI-compatible chat-completions client for page images, with bounded concurrency and retries."""

    def __init__(self, url: str, model: str = "vlm", api_key: str | None = None, timeout_s: float = 60.0,
                 max_retries: int = 3, concurrency: int = 4, backoff_s: float = 1.0, max_backoff_s: float = 30.0,
                 prompt: str = VLM_PROMPT, max_tokens: int = 4096):
        if not url:
            raise ValueError("high_cost_route='vlm' needs vlm_url (…/v1 of an OpenAI-compatible endpoint)")
        self.endpoint = url.rstrip("/") + "/chat/completions"
        self.model, self.timeout_s, self.max_retries = model, timeout_s, max_retries
        self.concurrency, self.backoff_s, self.max_backoff_s = max(1, concurrency), backoff_s, max_backoff_s
        self.prompt, self.max_tokens = prompt, max_tokens
        key = api_key or os.environ.get("S1_VLM_API_KEY")
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}

    def body(self, png: bytes) -> dict:
        return {
            "model": self.model,
            "temperature": 0,
            "max_tokens": self.max_tokens,
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": self.prompt},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(png).decode()}},
            ]}],
        }

    def transcribe(self, client, png: bytes) -> VlmResult:
        """One page, retried; never raises for a failed page (the result carries the error)."""
        import httpx

        t0, error = time.perf_counter(), None
        for attempt in range(1, self.max_retries + 2):
            wait = None
            try:
                r = client.post(self.endpoint, json=self.body(png), headers=self.headers, timeout=self.timeout_s)
                if r.status_code == 200:
                    content = r.json()["choices"][0]["message"]["content"]
                    return VlmResult(content or "", None, attempt, time.perf_counter() - t0)
                error = f"HTTP {r.status_code}: {r.text[:200]}"
                if r.status_code not in _RETRY_STATUS:
                    break
                ra = r.headers.get("retry-after")
                wait = float(ra) if ra and ra.replace(".", "", 1).isdigit() else None
            except httpx.TimeoutException as e:
                error = f"timeout after {self.timeout_s}s ({type(e).__name__})"
            except httpx.TransportError as e:
                error = f"{type(e).__name__}: {e}"
            except (KeyError, IndexError, ValueError) as e:  # 200 with a body that is not a chat completion
                error = f"bad response: {type(e).__name__}: {e}"
                break
            if attempt <= self.max_retries:
                time.sleep(min(self.max_backoff_s, wait if wait is not None else self.backoff_s * 2 ** (attempt - 1)))
        return VlmResult(None, error, attempt, time.perf_counter() - t0)

    def transcribe_many(self, pngs: list[bytes]) -> list[VlmResult]:
        """All pages, at most `concurrency` requests in flight; results in input order."""
        import httpx

        if not pngs:
            return []
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        with httpx.Client(limits=limits) as client:
            if self.concurrency == 1 or len(pngs) == 1:
                return [self.transcribe(client, p) for p in pngs]
            with ThreadPoolExecutor(self.concurrency, thread_name_prefix="vlm") as pool:
                return list(pool.map(lambda p: self.transcribe(client, p), pngs))
