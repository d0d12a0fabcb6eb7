"""`s1 serve-model` end to end on loopback: our engine behind the OpenAI-compatible API, SGLang's weight reload, the
served weights' hash, and online RL with the openai backend that pushes every update to it (and refuses to start
against a server that cannot take weights)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

import pyarrow.parquet as pq
import pytest
import torch

from s1model.rl.generate import GenerationConfig, OpenAICompletionsClient, SamplingParams, WeightSyncError, generate
from s1model.rl.rollout import RolloutWorker
from s1model.serve import weights_sha256
from tests.s1model.conftest import REPO
from tests.s1model.rl.conftest import (base_model_dir, compare_data, local_ray, sft_model_dir,  # noqa: F401 (fixtures)
                                       tokenizer_dir)
from tests.s1model.rl.standin_server import StandInOpenAIServer


@pytest.fixture
def served(tmp_path, base_model_dir, tokenizer_dir):
    """`s1 serve-model` in a subprocess on a free loopback port, serving the base model; yields its base URL."""
    ready = str(tmp_path / "ready.json")
    log = open(tmp_path / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "serve-model", "--model", base_model_dir,
                             "--tokenizer", tokenizer_dir, "--port", "0", "--ready-file", ready],
                            cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    deadline = time.time() + 120
    while not os.path.exists(ready):
        assert proc.poll() is None, open(tmp_path / "serve.log").read()
        assert time.time() < deadline, "s1 serve-model did not come up"
        time.sleep(0.2)
    yield json.load(open(ready))["base_url"]
    proc.terminate()
    proc.wait(timeout=30)


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def _local_greedy(model_dir: str, tokenizer_dir: str, prompts: list[str], n: int) -> list[list[int]]:
    from transformers import AutoModelForCausalLM

    from s1data.tokenizer import load_tokenizer

    tok = load_tokenizer(tokenizer_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    out = generate(model, tok.encode_batch([p + "\n" for p in prompts]), SamplingParams(max_new_tokens=n,
                   temperature=0.0), tok.eos_id, tok.pad_id)
    return [c.token_ids for c in out]


def _served_greedy(base_url: str, prompts: list[str], n: int) -> tuple[list[list[int]], dict]:
    body = {"model": "policy", "prompt": [p + "\n" for p in prompts], "max_tokens": n, "temperature": 0.0,
            "return_token_ids": True}
    req = urllib.request.Request(base_url + "/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=60) as r:
        payload = json.loads(r.read())
    return [c["token_ids"] for c in sorted(payload["choices"], key=lambda c: c["index"])], payload


def test_a_weight_push_to_s1_serve_model_makes_it_answer_exactly_like_the_pushed_checkpoint(
        served, base_model_dir, sft_model_dir, tokenizer_dir, compare_data):
    _, rl = compare_data
    prompts = rl["prompt"].to_pylist()[:6]
    info = _get(served[:-3] + "/get_model_info")
    assert info["weights_sha256"] == weights_sha256(base_model_dir) and info["weight_version"] == "0"
    before, payload = _served_greedy(served, prompts, 8)
    assert payload["system_fingerprint"] == weights_sha256(base_model_dir)
    assert before == _local_greedy(base_model_dir, tokenizer_dir, prompts, 8)

    client = OpenAICompletionsClient(GenerationConfig(backend="openai", openai_base_url=served))
    client.require_weight_sync()
    sha = weights_sha256(sft_model_dir)
    answer = client.update_weights_from_disk(sft_model_dir, "1", sha)
    assert answer["weights_sha256"] == sha and answer["weight_version"] == "1"
    after, payload = _served_greedy(served, prompts, 8)
    assert payload["system_fingerprint"] == sha and payload["weight_version"] == "1"
    assert after == _local_greedy(sft_model_dir, tokenizer_dir, prompts, 8)  # the trainer's greedy tokens
    assert after != before
    chat = json.loads(urllib.request.urlopen(urllib.request.Request(
        served + "/chat/completions", data=json.dumps({"messages": [{"role": "user", "content": prompts[0]}],
                                                       "max_tokens": 4, "temperature": 0}).encode(),
        headers={"Content-Type": "application/json"}), timeout=60).read())
    assert chat["choices"][0]["message"]["role"] == "assistant" and chat["system_fingerprint"] == sha


def test_a_rollout_worker_refuses_samples_from_weights_other_than_the_ones_it_pushed(served, base_model_dir,
                                                                                    tokenizer_dir, compare_data):
    from s1model.rl.config import tiny_online

    _, rl = compare_data
    cfg = tiny_online().rollout
    cfg = cfg.model_copy(update={"generation": GenerationConfig(backend="openai", openai_base_url=served)})
    worker = RolloutWorker(base_model_dir, tokenizer_dir, cfg)
    worker.require_weight_sync()
    worker.update_weights_from_disk(base_model_dir, weights_sha256(base_model_dir), 3)
    rows = worker.complete(rl["prompt"].to_pylist()[:2], 2, SamplingParams(max_new_tokens=4, seed=0))
    assert [r["version"] for g in rows for r in g] == [3] * 4
    with pytest.raises(WeightSyncError, match="cannot take a state_dict"):
        worker.update_weights({})
    # another trainer's push behind this worker's back: the server now serves other weights
    other = OpenAICompletionsClient(cfg.generation)
    other.update_weights_from_disk(base_model_dir, "99")
    with pytest.raises(WeightSyncError, match="stale policy"):
        worker.complete(rl["prompt"].to_pylist()[:2], 1, SamplingParams(max_new_tokens=4, seed=0))


def test_online_rl_with_the_openai_backend_trains_on_samples_of_each_pushed_policy(
        served, local_ray, sft_model_dir, tokenizer_dir, compare_data, tmp_path):
    from s1model.rl.config import tiny_online
    from s1model.rl.online import online_rl

    _, rl = compare_data
    cfg = tiny_online()
    cfg = cfg.model_copy(update={"steps": 2, "checkpoint_every": 1, "rollout": cfg.rollout.model_copy(update={
        "generation": GenerationConfig(backend="openai", openai_base_url=served)})})
    out = str(tmp_path / "on")
    res = online_rl(cfg, sft_model_dir, tokenizer_dir, rl.slice(0, 32), out)
    assert res["trainer"] == "deepspeed"
    assert [m["weight_version"] for m in res["metrics"]] == [0.0, 1.0]
    info = _get(served[:-3] + "/get_model_info")
    step1 = os.path.join(out, "checkpoints", "step1")  # the policy after the first update: what step 2 sampled
    assert info["weight_version"] == "1"
    assert info["weights_sha256"] == weights_sha256(os.path.join(out, "serve_weights", "step1"))
    prompts = rl["prompt"].to_pylist()[:6]
    assert _served_greedy(served, prompts, 8)[0] == _local_greedy(step1, tokenizer_dir, prompts, 8)
    if res["metrics"][0]["updates"]:  # the first step trained: the served policy moved off the starting one
        assert info["weights_sha256"] != weights_sha256(sft_model_dir)


def test_online_rl_fails_at_start_with_one_line_when_the_server_cannot_take_weights(
        local_ray, sft_model_dir, tokenizer_dir, compare_data, tmp_path):
    from s1model.rl.config import tiny_online
    from s1model.rl.online import online_rl

    _, rl = compare_data
    cfg = tiny_online()
    with StandInOpenAIServer() as server:  # a completions-only server: no /get_model_info, no reload
        cfg = cfg.model_copy(update={"optim": cfg.optim.model_copy(update={"trainer": "torch"}),
                                     "rollout": cfg.rollout.model_copy(update={"generation": GenerationConfig(
                                         backend="openai", openai_base_url=server.base_url)})})
        with pytest.raises(WeightSyncError) as e:
            online_rl(cfg, sft_model_dir, tokenizer_dir, rl.slice(0, 8), str(tmp_path / "on"))
        assert not [r for r in server.requests if r["path"].endswith("/completions")]  # no sample was drawn
    msg = str(e.value)
    assert "\n" not in msg and "has no GET /get_model_info" in msg
    assert not os.path.exists(tmp_path / "on" / "checkpoints" / "latest")
