"""The built-in KV-cache engine against cache-free greedy decoding, sampling knobs, and the OpenAI client backend
(against a local stand-in server)."""

import pytest
import torch

from s1model.config import tiny
from s1model.model import build_model
from s1model.rl.generate import GenerationConfig, OpenAICompletionsClient, SamplingParams, generate, greedy_reference
from tests.s1model.rl.standin_server import StandInOpenAIServer


def _model_and_prompts(seed=0):
    cfg = tiny()
    model = build_model(cfg).eval()
    g = torch.Generator().manual_seed(seed)
    prompts = [torch.randint(3, 256, (n,), generator=g).tolist() for n in (5, 17, 9, 30, 1)]
    return model, prompts


def test_batched_kv_cache_greedy_equals_cache_free_greedy_for_prompts_of_different_lengths():
    model, prompts = _model_and_prompts()
    out = generate(model, prompts, SamplingParams(max_new_tokens=12, temperature=0.0), eos_id=0, max_batch_size=3)
    for p, c in zip(prompts, out):
        assert c.prompt_ids == p
        assert c.token_ids == greedy_reference(model, p, 12, eos_id=0)
        assert c.finish_reason == "length" and len(c.logprobs) == 12


def test_rows_that_hit_eos_stop_and_leave_the_batch_while_the_others_continue():
    model, prompts = _model_and_prompts()
    free = [greedy_reference(model, p, 12, eos_id=-1) for p in prompts]
    eos = free[1][3]  # the 4th greedy token of prompt 1 becomes EOS
    out = generate(model, prompts, SamplingParams(max_new_tokens=12, temperature=0.0), eos_id=eos)
    for f, c in zip(free, out):
        cut = f.index(eos) + 1 if eos in f else len(f)
        assert c.token_ids == f[:cut]
        assert c.finish_reason == ("eos" if eos in f else "length")
    assert out[1].finish_reason == "eos" and len(out[1].token_ids) <= 4
    assert any(c.finish_reason == "length" for c in out)


def test_logprobs_are_the_policy_log_probabilities_of_the_emitted_tokens():
    model, prompts = _model_and_prompts()
    c = generate(model, prompts[:1], SamplingParams(max_new_tokens=4, temperature=0.7, seed=3), eos_id=0)[0]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([c.prompt_ids + c.token_ids])).logits[0].float()
    lp = torch.log_softmax(logits, -1)
    n = len(c.prompt_ids)
    expect = [float(lp[n - 1 + i, t]) for i, t in enumerate(c.token_ids)]
    torch.testing.assert_close(torch.tensor(c.logprobs), torch.tensor(expect), atol=1e-4, rtol=0)


def test_seeded_sampling_repeats_and_a_tiny_top_p_is_greedy():
    model, prompts = _model_and_prompts()
    params = SamplingParams(max_new_tokens=8, temperature=1.0, seed=11)
    a = [c.token_ids for c in generate(model, prompts, params, eos_id=0)]
    b = [c.token_ids for c in generate(model, prompts, params, eos_id=0)]
    other = [c.token_ids for c in generate(model, prompts, params.model_copy(update={"seed": 12}), eos_id=0)]
    assert a == b and a != other
    nucleus = generate(model, prompts, SamplingParams(max_new_tokens=8, temperature=1.0, top_p=1e-6, seed=1), 0)
    greedy = generate(model, prompts, SamplingParams(max_new_tokens=8, temperature=0.0), 0)
    assert [c.token_ids for c in nucleus] == [c.token_ids for c in greedy]


def test_openai_client_sends_one_request_and_groups_choices_per_prompt_against_a_stand_in_server():
    with StandInOpenAIServer(completion_text="\\boxed{>}") as server:
        client = OpenAICompletionsClient(GenerationConfig(backend="openai", openai_base_url=server.base_url,
                                                          openai_model="policy"))
        out = client.complete(["p1", "p2"], 3, SamplingParams(max_new_tokens=5, temperature=0.5, seed=4))
        body = server.requests[0]["body"]
    assert len(server.requests) == 1
    assert body == {"model": "policy", "prompt": ["p1", "p2"], "n": 3, "max_tokens": 5, "temperature": 0.5,
                    "top_p": 1.0, "seed": 4}
    assert out == [[("\\boxed{>}", "eos"), ("\\boxed{>}", "length"), ("\\boxed{>}", "eos")]] * 2


def _dense_model():
    from s1model.tail_experiment import build_decoder

    cfg = tiny().model.model_copy(update={"vocab_size": 256})
    return build_decoder(cfg, seed=1, dense=True).eval()


def test_static_engine_equals_the_hf_cache_path_and_cache_free_greedy_for_dense_and_moe_models():
    moe, prompts = _model_and_prompts(seed=4)
    for model in (moe, _dense_model()):
        ref = [greedy_reference(model, p, 40, eos_id=-1) for p in prompts]
        eos = ref[2][9]  # rows stop at different steps, across several sync points
        static = generate(model, prompts, SamplingParams(max_new_tokens=40, temperature=0.0), eos_id=eos,
                          engine="static", check_every=4)
        hf = generate(model, prompts, SamplingParams(max_new_tokens=40, temperature=0.0), eos_id=eos,
                      engine="hf_cache")
        for r, s, h in zip(ref, static, hf):
            cut = r.index(eos) + 1 if eos in r else len(r)
            assert s.token_ids == h.token_ids == r[:cut]
            assert s.finish_reason == h.finish_reason
            torch.testing.assert_close(torch.tensor(s.logprobs), torch.tensor(h.logprobs), atol=1e-4, rtol=0)
        assert {c.finish_reason for c in static} == {"eos", "length"}


def _eos_ending_many_rows(ref: list[list[int]]) -> int:
    """The token that the most rows (not all) emit among their first 30 greedy tokens: as EOS, rows stop at
    different steps and the batch shrinks."""
    import collections

    counts = collections.Counter(t for r in ref for t in set(r[:30]))
    return next(t for t, n in counts.most_common() if n < len(ref))


def test_the_static_decode_step_a_cuda_graph_replays_equals_cache_free_greedy_while_rows_leave_the_batch():
    moe, prompts = _model_and_prompts(seed=4)
    prompts = prompts + [p[::-1] for p in prompts] + [[7] * 3]  # 11 rows: static buckets 11 -> 8 -> 4
    for model in (moe, _dense_model()):
        ref = [greedy_reference(model, p, 40, eos_id=-1) for p in prompts]
        eos = _eos_ending_many_rows(ref)
        stats: dict = {}
        out = generate(model, prompts, SamplingParams(max_new_tokens=40, temperature=0.0), eos_id=eos,
                       engine="static", check_every=2, decode="static", stats=stats)
        eager = generate(model, prompts, SamplingParams(max_new_tokens=40, temperature=0.0), eos_id=eos,
                         engine="static", check_every=2, decode="eager")
        for r, s, e in zip(ref, out, eager):
            cut = r.index(eos) + 1 if eos in r else len(r)
            assert s.token_ids == r[:cut]
            assert s.finish_reason == e.finish_reason
            torch.testing.assert_close(torch.tensor(s.logprobs), torch.tensor(e.logprobs), atol=1e-4, rtol=0)
        assert stats["decode"] == "static"
        assert any(live < size for live, size in stats["shrinks"])  # a padded bucket was decoded
        assert {c.finish_reason for c in out} == {"eos", "length"}


def test_graph_decode_on_cpu_fails_loudly_and_auto_decodes_eagerly_saying_why():
    model, prompts = _model_and_prompts()
    with pytest.raises(ValueError, match="needs a CUDA device"):
        generate(model, prompts, SamplingParams(max_new_tokens=4, temperature=0.0), eos_id=0, decode="graph")
    stats: dict = {}
    generate(model, prompts, SamplingParams(max_new_tokens=4, temperature=0.0), eos_id=0, stats=stats)
    assert stats["decode"] == "eager" and "CUDA device" in stats["graph_fallback"]


def _cuda_or_skip():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")


@pytest.mark.gpu
def test_cuda_graph_decode_gives_the_eager_engines_tokens_and_cache_free_greedy_in_fp32():
    _cuda_or_skip()
    moe, prompts = _model_and_prompts(seed=4)
    prompts = prompts + [p[::-1] for p in prompts] + [[7] * 3]
    for model in (moe.cuda(), _dense_model().cuda()):
        ref = [greedy_reference(model, p, 40, eos_id=-1) for p in prompts]
        eos = _eos_ending_many_rows(ref)
        stats: dict = {}
        graph = generate(model, prompts, SamplingParams(max_new_tokens=40, temperature=0.0), eos_id=eos,
                         engine="static", check_every=2, decode="graph", stats=stats)
        eager = generate(model, prompts, SamplingParams(max_new_tokens=40, temperature=0.0), eos_id=eos,
                         engine="static", check_every=2, decode="eager")
        for r, g, e in zip(ref, graph, eager):
            cut = r.index(eos) + 1 if eos in r else len(r)
            assert g.token_ids == e.token_ids == r[:cut]
            torch.testing.assert_close(torch.tensor(g.logprobs), torch.tensor(e.logprobs), atol=1e-4, rtol=0)
        assert stats["decode"] == "graph" and stats["captures"] == 1 + len(stats["shrinks"]) >= 2
