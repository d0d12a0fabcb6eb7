"""Domain-centric rewriting (Intern-S1): pages of domains decided `rewrite_candidate` are rewritten by an LLM.

`rewrite_documents(table, config, decisions=None) -> (rewritten, originals, stats)`:
- the targets are the rows whose `domain` is decided one of `config.rewrite_decisions` in `decisions` (the table of
  `s1data.web.domains.domain_decisions`); without `decisions`, every row of `table` is a target (the caller chose);
- each target's text goes to an OpenAI-compatible `POST {url}/chat/completions` (vLLM, LMDeploy, SGLang, a hosted
  API) with `config.prompt_template`; at most `max_concurrency` calls are in flight (a thread pool over one
  `httpx.Client`), each with `timeout_s`, retried `retries` times with exponential backoff on timeouts, connection
  errors, HTTP 429 and 5xx;
- `rewritten`: `table` with the text of each successful target replaced, plus `rewritten` (bool) and
  `rewrite_reason` (null when rewritten or not a target; else why the page was kept unchanged: `no_endpoint`,
  `rewrite_too_long`, `rewrite_timeout`, `rewrite_connection`, `rewrite_http_<code>`, `rewrite_bad_response`,
  `rewrite_empty`, `rewrite_truncated`). A failed call never drops a page: it stays with its original text;
- `originals`: (`doc_id`, `text`) of every page whose text was replaced, for lineage and exclusions;
- `stats`: counts (targets, rewritten, unchanged, reasons, calls, retries), whether an endpoint was configured,
  the model, the peak number of calls in flight, seconds: what a run summary reports.

Without `config.url` nothing is called and every target is kept unchanged with reason `no_endpoint`. The API key is
read from the environment variable named by `api_key_env` at call time; the config never holds the key.
`s1data/web/llm_standin.py` is a local STAND-IN endpoint for tests.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, Field, field_validator

log = logging.getLogger(__name__)

DEFAULT_PROMPT = (
    "The text below was extracted from a web page of the site {domain}. Rewrite it as a clear, self-contained, "
    "well-structured document for a scientific corpus: keep every fact, number, formula, name and reference; "
    "remove navigation, advertising and boilerplate; fix broken sentences and formatting; do not add facts that "
    "are not in the text. Answer with the rewritten document only.\n\n<document>\n{text}\n</document>")
ORIGINALS_SCHEMA = pa.schema([("doc_id", pa.string()), ("text", pa.string())])


class RewriteConfig(BaseModel):
    """LLM rewriting of the pages of domains decided for rewriting, through an OpenAI-compatible endpoint."""

    url: str | None = Field(None, description="Base URL of an OpenAI-compatible API (e.g. http://host:8000/v1) or "
                            "its full /chat/completions URL. None: nothing is rewritten (reason no_endpoint).")
    model: str = Field("internlm/Intern-S1", description="Model name sent with each request.")
    api_key_env: str | None = Field("S1_REWRITE_API_KEY", description="Name of the environment variable holding "
                                    "the API key (sent as a Bearer token); None or unset: no Authorization header.")
    prompt_template: str = Field(DEFAULT_PROMPT, description="User message; {text} is replaced by the page text, "
                                 "{domain} by its URL domain (other braces are left as they are).")
    system_prompt: str | None = Field(None, description="Optional system message.")
    temperature: float = Field(0.0, ge=0.0, description="Sampling temperature (0: as deterministic as the server "
                               "allows).")
    max_tokens: int | None = Field(None, ge=1, description="max_tokens of the completion; None: the server's.")
    max_concurrency: int = Field(8, ge=1, description="Calls in flight at most.")
    timeout_s: float = Field(120.0, gt=0, description="Timeout of one call (connect, write, and each read).")
    retries: int = Field(2, ge=0, description="Extra attempts after a timeout, connection error, HTTP 429 or 5xx.")
    backoff_s: float = Field(1.0, ge=0, description="Wait before the first retry; doubled for each further one "
                             "(a 429's Retry-After, when longer, up to 60 s, wins).")
    max_input_chars: int = Field(24_000, ge=1, description="Longer pages are not sent (reason rewrite_too_long): "
                                 "a rewrite of a truncated page would lose its tail.")
    rewrite_decisions: list[str] = Field(["rewrite_candidate", "rewrite"], description="Domain decisions whose "
                                         "pages are rewritten.")

    @field_validator("prompt_template")
    @classmethod
    def _has_text(cls, v: str) -> str:
        if "{text}" not in v:
            raise ValueError("prompt_template must contain {text} (where the page text goes); {domain} is optional")
        return v


def _endpoint(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/chat/completions") else url + "/chat/completions"


class _Caller:
    """One page → (new text or None, reason or None, attempts). Counts calls in flight."""

    def __init__(self, config: RewriteConfig, client):
        self.config, self.client, self.url = config, client, _endpoint(config.url)
        self.lock, self.in_flight, self.peak = threading.Lock(), 0, 0

    def _post(self, body: dict):
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            return self.client.post(self.url, json=body)
        finally:
            with self.lock:
                self.in_flight -= 1

    def __call__(self, text: str, domain: str) -> tuple[str | None, str | None, int]:
        import httpx

        c = self.config
        messages = [{"role": "system", "content": c.system_prompt}] if c.system_prompt else []
        prompt = c.prompt_template.replace("{domain}", domain).replace("{text}", text)  # not str.format: braces
        messages.append({"role": "user", "content": prompt})
        body = {"model": c.model, "messages": messages, "temperature": c.temperature}
        if c.max_tokens is not None:
            body["max_tokens"] = c.max_tokens
        reason, attempt = None, 0
        for attempt in range(1, c.retries + 2):
            wait = c.backoff_s * 2 ** (attempt - 1)
            try:
                resp = self._post(body)
            except httpx.TimeoutException:
                reason = "rewrite_timeout"
            except httpx.TransportError:
                reason = "rewrite_connection"
            else:
                if resp.status_code == 200:
                    return (*_parse(resp), attempt)
                reason = f"rewrite_http_{resp.status_code}"
                if resp.status_code != 429 and resp.status_code < 500:
                    return None, reason, attempt  # a client error does not heal by itself
                retry_after = resp.headers.get("retry-after", "")
                if retry_after.replace(".", "", 1).isdigit():
                    wait = max(wait, min(float(retry_after), 60.0))
            if attempt <= c.retries:
                time.sleep(wait)
        return None, reason, attempt


def _parse(resp) -> tuple[str | None, str | None]:
    try:
        choice = resp.json()["choices"][0]
        content = choice["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None, "rewrite_bad_response"
    if not isinstance(content, str) or not content.strip():
        return None, "rewrite_empty"
    if choice.get("finish_reason") == "length":
        return None, "rewrite_truncated"
    return content.strip(), None


def rewrite_targets(table: pa.Table, decisions: pa.Table | None, config: RewriteConfig) -> list[bool]:
    """Per row: is its domain decided one of `config.rewrite_decisions`? All True without `decisions`."""
    if decisions is None:
        return [True] * table.num_rows
    chosen = {d or "" for d, dec in zip(decisions.column("domain").to_pylist(),
                                        decisions.column("decision").to_pylist())
              if dec in config.rewrite_decisions}
    return [(d or "") in chosen for d in table.column("domain").to_pylist()]


def rewrite_documents(table: pa.Table, config: RewriteConfig | None = None,
                      decisions: pa.Table | None = None) -> tuple[pa.Table, pa.Table, dict]:
    """(rewritten, originals, stats): see the module docstring. `table` needs `doc_id` and `text` (and `domain`
    when `decisions` is given)."""
    config = config or RewriteConfig()
    t0 = time.perf_counter()
    texts = table.column("text").to_pylist()
    domains = table.column("domain").to_pylist() if "domain" in table.column_names else [""] * table.num_rows
    target = rewrite_targets(table, decisions, config)
    rows = [i for i, t in enumerate(target) if t]
    new_text: dict[int, str] = {}
    reason: dict[int, str] = {}
    attempts: list[int] = []
    peak = 0
    if not config.url:
        reason = {i: "no_endpoint" for i in rows}
    else:
        send = []
        for i in rows:
            if len(texts[i] or "") > config.max_input_chars:
                reason[i] = "rewrite_too_long"
            else:
                send.append(i)
        if send:
            import httpx

            key = os.environ.get(config.api_key_env) if config.api_key_env else None
            if config.api_key_env and not key:
                log.warning("rewrite: environment variable %s is not set; calling %s without an API key",
                            config.api_key_env, config.url)
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            limits = httpx.Limits(max_connections=config.max_concurrency,
                                  max_keepalive_connections=config.max_concurrency)
            with httpx.Client(timeout=config.timeout_s, headers=headers, limits=limits) as client, \
                    ThreadPoolExecutor(config.max_concurrency, thread_name_prefix="rewrite") as pool:
                caller = _Caller(config, client)
                results = pool.map(lambda i: caller(texts[i] or "", domains[i] or ""), send)
                for i, (out, why, n) in zip(send, results):
                    attempts.append(n)
                    if out is None:
                        reason[i] = why
                    else:
                        new_text[i] = out
                peak = caller.peak
    rewritten_mask = [i in new_text for i in range(table.num_rows)]
    out_text = pa.array([new_text.get(i, texts[i]) for i in range(table.num_rows)], pa.string())
    idx = table.column_names.index("text")
    out = table.set_column(idx, pa.field("text", pa.string()), out_text)
    out = out.append_column("rewritten", pa.array(rewritten_mask, pa.bool_())) \
        .append_column("rewrite_reason", pa.array([reason.get(i) for i in range(table.num_rows)], pa.string()))
    mask = pa.array(rewritten_mask, pa.bool_())
    originals = pa.table({"doc_id": table.column("doc_id").filter(mask).cast(pa.string()),
                          "text": pc.cast(table.column("text").filter(mask), pa.string())}, schema=ORIGINALS_SCHEMA)
    stats = {"endpoint_configured": bool(config.url), "endpoint": config.url, "model": config.model,
             "targets": len(rows), "rewritten": len(new_text), "unchanged": len(rows) - len(new_text),
             "reasons": dict(Counter(reason.values()).most_common()), "calls": sum(attempts),
             "retries": sum(attempts) - len(attempts), "peak_in_flight": peak,
             "seconds": round(time.perf_counter() - t0, 3)}
    if not config.url and rows:
        log.info("rewrite: no endpoint configured; %d pages of rewrite domains kept unchanged", len(rows))
    return out, originals, stats
