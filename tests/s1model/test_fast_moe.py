"""s1model.fast_moe (model_impl="s1") against transformers' Qwen3MoeForCausalLM, on CPU in fp32: same state_dict,
same logits, same losses and gradients; then the real DeepSpeed trainer with it (train, export, resume)."""

import glob
import json
import os
import shutil

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM

from s1model.config import FastMoeConfig, tiny
from s1model.engine import build_engine
from s1model.export import export_hf
from s1model.fast_moe import (Experts, FastQwen3Moe, document_causal_mask, document_ids, ep_experts_padded,
                              fused_linear_cross_entropy)
from s1model.model import build_model, forward_losses, lm_loss, next_token_targets, packed_inputs, router_losses
from s1model.train import pretrain
from tests.s1model.conftest import entry_argv, free_port, spawn

DOCS = [[30, 34], [10, 20, 34]]  # two packed rows of 64 tokens


def _pair(**fast):
    hf = build_model(tiny()).eval()
    return hf, FastQwen3Moe.from_hf(hf, FastMoeConfig(**fast)).eval()


def _batch(seed=0):
    ids_BS = torch.randint(1, 256, (2, 64), generator=torch.Generator().manual_seed(seed))
    position_ids_BS, loss_mask_BS = packed_inputs(DOCS, 64)
    return ids_BS, position_ids_BS, loss_mask_BS


def _grouped_mm_runs_on_cpu() -> bool:
    try:
        torch._grouped_mm(torch.randn(8, 16), torch.randn(2, 16, 8), offs=torch.tensor([3, 8], dtype=torch.int32))
        return True
    except (RuntimeError, NotImplementedError):
        return False


def test_state_dict_keys_and_shapes_equal_transformers_qwen3_moe():
    hf, fast = _pair()
    ours, theirs = fast.state_dict(), hf.state_dict()
    assert list(ours) == list(theirs)
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}
    assert ours["model.layers.0.mlp.experts.gate_up_proj"].shape == (4, 64, 64)  # E x 2F x D, fused 3-D


@pytest.mark.parametrize("experts", ["loop", "grouped_mm"])
def test_logits_equal_transformers_with_and_without_document_masking(experts):
    if experts == "grouped_mm" and not _grouped_mm_runs_on_cpu():
        pytest.skip("this torch has no CPU grouped_mm")
    hf, fast = _pair(experts=experts)
    ids_BS, position_ids_BS, _ = _batch()
    with torch.no_grad():
        packed_hf = hf(input_ids=ids_BS, position_ids=position_ids_BS).logits
        plain_hf = hf(input_ids=ids_BS).logits
        packed = fast(input_ids=ids_BS, position_ids=position_ids_BS, document_mask=True).logits
        inferred = fast(input_ids=ids_BS, position_ids=position_ids_BS).logits  # restarts found like transformers
        plain = fast(input_ids=ids_BS).logits
    assert not torch.allclose(packed_hf, plain_hf, atol=1e-3)  # the mask matters on these rows
    torch.testing.assert_close(packed, packed_hf, rtol=0, atol=1e-5)
    torch.testing.assert_close(inferred, packed_hf, rtol=0, atol=1e-5)
    torch.testing.assert_close(plain, plain_hf, rtol=0, atol=1e-5)


def test_flex_block_mask_attends_like_the_dense_document_mask():
    hf, fast = _pair(attention="sdpa")
    ids_BS, position_ids_BS, _ = _batch(1)
    doc_ids_BS = document_ids(position_ids_BS)
    assert doc_ids_BS[1].tolist() == [0] * 10 + [1] * 20 + [2] * 34
    block_mask = document_causal_mask(doc_ids_BS, "flex")
    dense_B1SS = document_causal_mask(doc_ids_BS, "sdpa")
    b, q, kv = torch.arange(2)[:, None, None], torch.arange(64)[None, :, None], torch.arange(64)[None, None, :]
    assert torch.equal(block_mask.mask_mod(b, 0, q, kv), dense_B1SS[:, 0])  # the GPU kernel's mask, token by token
    assert dense_B1SS[1, 0, 12, 9].item() is False and dense_B1SS[1, 0, 12, 10].item() is True
    with torch.no_grad():
        dense = fast(input_ids=ids_BS, position_ids=position_ids_BS, document_mask=True).logits
        fast.opts = FastMoeConfig(attention="flex")  # eager FlexAttention on CPU: same mask_mod as the GPU kernel
        flex = fast(input_ids=ids_BS, position_ids=position_ids_BS, document_mask=True).logits
    torch.testing.assert_close(flex, dense, rtol=0, atol=1e-5)


@pytest.mark.parametrize("dtype,atol", [(torch.float32, 1e-5), (torch.bfloat16, 2e-2)])
def test_chunked_fused_cross_entropy_equals_f_cross_entropy_in_value_and_gradients(dtype, atol):
    gen = torch.Generator().manual_seed(0)
    h_TD = torch.randn(37, 16, generator=gen).to(dtype).requires_grad_()
    w_VD = (0.5 * torch.randn(50, 16, generator=gen)).to(dtype).requires_grad_()
    targets_T = torch.randint(0, 50, (37,), generator=gen)
    targets_T[[0, 5, 36]] = -100
    ref = F.cross_entropy((h_TD @ w_VD.t()).float(), targets_T, ignore_index=-100)
    (3 * ref).backward()
    ref_grads = h_TD.grad.clone(), w_VD.grad.clone()
    h_TD.grad = w_VD.grad = None
    ours = fused_linear_cross_entropy(h_TD, w_VD, targets_T, chunk_size=8)  # 5 chunks, the last one short
    (3 * ours).backward()
    assert ours.dtype == torch.float32 and h_TD.grad.dtype == w_VD.grad.dtype == dtype
    torch.testing.assert_close(ours, ref, rtol=0, atol=atol)
    torch.testing.assert_close(h_TD.grad.float(), ref_grads[0].float(), rtol=0, atol=atol)
    torch.testing.assert_close(w_VD.grad.float(), ref_grads[1].float(), rtol=0, atol=atol)


def test_training_losses_and_every_gradient_equal_the_transformers_path():
    hf, fast = _pair()
    hf.train(), fast.train()
    cfg = tiny().model_copy(update={"model_impl": "s1"})
    ids_BS, position_ids_BS, loss_mask_BS = _batch(2)
    ours = forward_losses(fast, ids_BS, position_ids_BS, loss_mask_BS, cfg, top_k=2)
    out = hf(input_ids=ids_BS, position_ids=position_ids_BS, output_router_logits=True)
    theirs = (lm_loss(out.logits, ids_BS, loss_mask_BS), *router_losses(out.router_logits, top_k=2))
    for a, b in zip(ours, theirs):  # LM loss, load-balance loss, z-loss, expert load L x E
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    assert ours[3].shape == (2, 4) and torch.allclose(ours[3].sum(-1), torch.ones(2))

    names = [name for name, _ in fast.named_parameters()]
    hf_params = dict(hf.named_parameters())
    ours_grads = torch.autograd.grad(ours[0] + 0.1 * ours[1] + 0.1 * ours[2], list(fast.parameters()))
    theirs_grads = torch.autograd.grad(theirs[0] + 0.1 * theirs[1] + 0.1 * theirs[2], [hf_params[n] for n in names])
    for name, a, b in zip(names, ours_grads, theirs_grads):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5, msg=name)


def test_activation_checkpointing_leaves_loss_and_gradients_unchanged():
    _, fast = _pair()
    fast.train()
    ids_BS, position_ids_BS, loss_mask_BS = _batch(3)
    targets_BS = next_token_targets(ids_BS, loss_mask_BS)
    grads = []
    for recompute in (False, True):
        fast.gradient_checkpointing = recompute
        out = fast(input_ids=ids_BS, position_ids=position_ids_BS, targets=targets_BS, document_mask=True)
        grads.append(torch.autograd.grad(out.loss + 0.1 * out.aux_loss, list(fast.parameters())))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


@pytest.mark.parametrize("dispatch", ["padded", "autoep"])
def test_s1_with_ep_size_2_trains_on_two_ranks_like_one_rank_and_exports_every_expert(tiny_shards, tmp_path,
                                                                                      dispatch):
    cfg = tiny().model_copy(update={"model_impl": "s1", "ep_size": 2, "zero_stage": 2, "max_steps": 4,
                                    "checkpoint_every": 4, "fast_moe": FastMoeConfig(ep_dispatch=dispatch)})
    assert cfg.fast_moe.ep_dispatch == dispatch
    assert cfg.uses_autoep() and not cfg.model_copy(update={"ep_size": 1}).uses_autoep()  # fast experts on 1 rank
    result_path, port = str(tmp_path / "result.json"), free_port()
    argv = entry_argv(cfg.model_dump_json(), tiny_shards, str(tmp_path / "ep"), "--result", result_path)
    ranks = [spawn(argv, rank=r, world=2, port=port, log=str(tmp_path / f"rank{r}.log")) for r in range(2)]
    assert [p.wait(timeout=300) for p in ranks] == [0, 0], open(tmp_path / "rank0.log").read()[-3000:]
    ep = json.load(open(result_path))

    # the same rows per step as one rank with grad-accum 2 (see the hf test in test_train.py for the tolerances)
    one = pretrain(cfg.model_copy(update={"ep_size": 1, "gradient_accumulation_steps": 2, "checkpoint_every": 0,
                                          "export_hf": False}), tiny_shards, str(tmp_path / "one"))["metrics"]
    assert [m["loss"] for m in ep["metrics"][:2]] == pytest.approx([m["loss"] for m in one[:2]], rel=1e-5)
    assert [m["grad_norm"] for m in ep["metrics"][:2]] == pytest.approx([m["grad_norm"] for m in one[:2]], rel=1e-4)
    assert [m["loss"] for m in ep["metrics"]] == pytest.approx([m["loss"] for m in one], rel=1e-3)

    ckpt = ep["checkpoints"][-1]["path"]
    assert len(glob.glob(os.path.join(ckpt, "layer_0_expert_*_model_states.pt"))) == 4  # 2 per EP rank
    experts = AutoModelForCausalLM.from_pretrained(ep["hf_export"]).model.layers[0].mlp.experts.gate_up_proj
    assert experts.shape == (4, 64, 64)
    assert not torch.equal(experts[0], experts[2])  # rank 1's experts gathered, not rank 0's twice


def test_s1_model_trains_under_deepspeed_and_exports_identical_logits(tiny_shards, tmp_path):
    cfg = tiny().model_copy(update={"model_impl": "s1", "max_steps": 10, "micro_batch_size": 4,
                                    "checkpoint_every": 5})
    result = pretrain(cfg, tiny_shards, str(tmp_path / "run"))
    losses = [m["loss"] for m in result["metrics"]]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.5
    first = result["metrics"][0]
    assert len(first["expert_load"]) == 2 and abs(sum(first["expert_load"][0]) - 1) < 1e-5
    assert first["aux_loss"] > 0.9 and first["z_loss"] > 0

    # the same rows through the HF implementation give the same first-step losses
    hf_run = pretrain(cfg.model_copy(update={"model_impl": "hf", "max_steps": 1, "checkpoint_every": 0,
                                             "export_hf": False}), tiny_shards, str(tmp_path / "hf"))
    for key in ("loss", "aux_loss", "z_loss", "grad_norm"):
        assert abs(hf_run["metrics"][0][key] - first[key]) < 1e-5, key

    engine = build_engine(build_model(cfg), cfg, 1)
    engine.load_checkpoint(str(tmp_path / "run" / "checkpoints"))
    hf = AutoModelForCausalLM.from_pretrained(result["hf_export"], dtype=torch.float32).eval()
    ids_BS, position_ids_BS, _ = _batch(4)
    with torch.no_grad():
        ours = engine.module.eval()(input_ids=ids_BS, position_ids=position_ids_BS).logits
        theirs = hf(input_ids=ids_BS, position_ids=position_ids_BS).logits
    torch.testing.assert_close(theirs, ours, rtol=0, atol=1e-5)

    offline = export_hf(str(tmp_path / "run" / "checkpoints"), str(tmp_path / "hf-offline"))
    with torch.no_grad():
        again = AutoModelForCausalLM.from_pretrained(offline)(input_ids=ids_BS, position_ids=position_ids_BS).logits
    torch.testing.assert_close(again, theirs, rtol=0, atol=0)


def test_s1_model_resumes_zero2_with_gradient_accumulation_to_the_same_losses(tiny_shards, tmp_path):
    cfg = tiny().model_copy(update={"model_impl": "s1", "zero_stage": 2, "gradient_accumulation_steps": 2,
                                    "max_steps": 6, "checkpoint_every": 3, "export_hf": False})
    ref = pretrain(cfg, tiny_shards, str(tmp_path / "ref"))
    assert ref["metrics"][0]["rows"] == 2 * cfg.micro_batch_size

    # a run that stopped after the step-3 checkpoint: the reference's files up to step 3
    ckpt = tmp_path / "run" / "checkpoints"
    shutil.copytree(tmp_path / "ref" / "checkpoints", ckpt)
    shutil.rmtree(ckpt / "step6")
    (ckpt / "latest").write_text("step3")
    resumed = pretrain(cfg, tiny_shards, str(tmp_path / "run"))
    assert resumed["resumed_from"] == 3
    assert [m["loss"] for m in resumed["metrics"]] == [m["loss"] for m in ref["metrics"][3:]]
    saved = json.load(open(os.path.join(ckpt, "pretrain_config.json")))
    assert saved["model_impl"] == "s1"


def test_foreach_gradient_norm_and_overflow_check_equal_deepspeeds(tmp_path):
    from s1model.parallel import init_distributed

    init_distributed()
    cfg = tiny().model_copy(update={"model_impl": "s1", "zero_stage": 1})
    engine = build_engine(build_model(cfg), cfg, 1)
    ids_BS, position_ids_BS, loss_mask_BS = _batch(5)
    lm, aux, z, _ = forward_losses(engine, ids_BS, position_ids_BS, loss_mask_BS, cfg, top_k=2)
    engine.backward(lm + 0.01 * aux + 0.01 * z)  # ZeRO-1 has reduced the gradients into its partition lists
    opt, deepspeed_class = engine.optimizer, type(engine.optimizer)
    grads, params = opt.averaged_gradients[0], opt.params_in_partition[0]
    ours, theirs = opt.get_grad_norm_direct(grads, params), deepspeed_class.get_grad_norm_direct(opt, grads, params)
    assert ours.dtype == torch.float32 and abs(float(ours) - float(theirs)) < 1e-6 * float(theirs)
    overflow = [opt.has_overflow_partitioned_grads_serial,
                lambda: deepspeed_class.has_overflow_partitioned_grads_serial(opt)]
    assert [bool(check()) for check in overflow] == [False, False]
    grads[3].view(-1)[5] = float("nan")
    assert [bool(check()) for check in overflow] == [True, True]
    assert float(opt.get_grad_norm_direct(grads, params)) == -1.0  # invalid norms masked as DeepSpeed does


def _bf16_engine(sync_free_step: bool, grad_clip: float):
    from s1model.parallel import init_distributed

    init_distributed()
    torch.manual_seed(0)
    cfg = tiny().model_copy(update={"model_impl": "s1", "zero_stage": 1, "dtype": "bf16", "grad_clip": grad_clip,
                                    "warmup_steps": 1, "fast_moe": FastMoeConfig(sync_free_step=sync_free_step)})
    return build_engine(build_model(cfg), cfg, 1), cfg


def _train_step(engine, cfg, seed):
    ids_BS, position_ids_BS, loss_mask_BS = _batch(seed)
    lm, aux, z, _ = forward_losses(engine, ids_BS, position_ids_BS, loss_mask_BS, cfg, top_k=2)
    engine.backward(lm + 0.01 * aux + 0.01 * z)


def test_sync_free_step_clips_inside_fused_adamw_like_deepspeed_and_skips_non_finite_gradients():
    ours, cfg = _bf16_engine(True, grad_clip=0.05)  # small: every step is clipped
    theirs, _ = _bf16_engine(False, grad_clip=0.05)
    assert ours.optimizer.check_grad_overflow is False and theirs.optimizer.check_grad_overflow is True
    for seed in range(3):
        for engine in (ours, theirs):
            _train_step(engine, cfg, seed)
            engine.step()
        assert float(ours.get_global_grad_norm()) > 0.05
        # step 1 from the same weights: same norm, same update up to x * (1/s) against x / s; later steps carry
        # the bf16 rounding of that last bit forward, so they agree loosely
        rel = 1e-6 if seed == 0 else 1e-3
        assert float(ours.get_global_grad_norm()) == pytest.approx(float(theirs.get_global_grad_norm()), rel=rel)
        for a, b in zip(ours.optimizer.single_partition_of_fp32_groups, theirs.optimizer.single_partition_of_fp32_groups):
            assert float((a - b).abs().max()) < (1e-7 if seed == 0 else 1e-3)
    masters = [g.detach().clone() for g in ours.optimizer.single_partition_of_fp32_groups]

    adam = ours.optimizer.optimizer
    steps = [float(adam.state[p]["step"]) for g in adam.param_groups for p in g["params"]]
    _train_step(ours, cfg, 7)
    ours.optimizer.averaged_gradients[0][3].view(-1)[5] = float("nan")
    ours.step()
    assert float(ours.optimizer.optimizer.found_inf) == 1.0
    for a, b in zip(masters, ours.optimizer.single_partition_of_fp32_groups):
        assert torch.equal(a, b)  # skipped: weights (and below, AdamW's step count) untouched, no NaN written
    assert [float(adam.state[p]["step"]) for g in adam.param_groups for p in g["params"]] == steps
    _train_step(ours, cfg, 8)
    ours.step()  # and the next finite step trains again
    assert float(ours.optimizer.optimizer.found_inf) == 0.0
    assert not torch.equal(masters[0], ours.optimizer.single_partition_of_fp32_groups[0])


def test_counting_sort_of_slots_equals_a_stable_argsort_and_gather_rows_has_indexings_gradient():
    from s1model.fast_moe import gather_rows, sort_slots_by_expert

    g = torch.Generator().manual_seed(3)
    idx_TK = torch.stack([torch.randperm(6, generator=g)[:2] for _ in range(37)])  # 37 tokens, top-2 of 6
    order_N, inverse_N, counts_E = sort_slots_by_expert(idx_TK.flatten(), 6)
    assert torch.equal(order_N, idx_TK.flatten().argsort(stable=True))
    assert torch.equal(order_N[inverse_N], torch.arange(74))
    assert torch.equal(counts_E, torch.bincount(idx_TK.flatten(), minlength=6))

    x_TD = torch.randn(37, 5, dtype=torch.float64, requires_grad=True)
    w_ND = torch.randn(74, 5, dtype=torch.float64)
    (gather_rows(x_TD, order_N // 2, inverse_N.view(37, 2)) * w_ND).sum().backward()
    ours, x_TD.grad = x_TD.grad, None
    (x_TD[order_N // 2] * w_ND).sum().backward()
    torch.testing.assert_close(ours, x_TD.grad)



def _padded_ep_rank(rank: int, world: int, init_file: str, routing: str, grouped: bool, out_dir: str) -> None:
    """One rank of the padded-dispatch check: its tokens through ep_experts_padded (2 experts per rank here) and
    through all experts locally; saves both outputs and gradients."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    T, K, L, D, F_ = 10, 2, 2, 8, 8
    E = L * world
    cfg = type("Cfg", (), {"num_experts": E, "hidden_size": D, "moe_intermediate_size": F_})
    full = Experts(cfg, "loop")
    torch.nn.init.normal_(full.gate_up_proj, generator=torch.Generator().manual_seed(0))
    torch.nn.init.normal_(full.down_proj, generator=torch.Generator().manual_seed(1))
    gen = torch.Generator().manual_seed(10 + rank)
    x_TD = torch.randn(T, D, generator=gen, requires_grad=True)
    if routing == "random":
        idx_TK = torch.stack([torch.randperm(E, generator=gen)[:K] for _ in range(T)])
    elif routing == "all_to_rank0":  # the other ranks receive nothing, rank 0 every slot of every rank
        idx_TK = torch.tensor([[0, 1]] * T)
    else:  # "own_rank": every slot stays on its rank, the chunks for other ranks are all padding
        idx_TK = torch.tensor([[L * rank, L * rank + 1]] * T)
    weight_TK = torch.rand(T, K, generator=gen)
    g_TD = torch.randn(T, D, generator=gen)

    y_ref = full(x_TD, idx_TK, weight_TK)
    gx_ref, ggu_ref, gdn_ref = torch.autograd.grad(y_ref, [x_TD, full.gate_up_proj, full.down_proj], g_TD)
    for g in (ggu_ref, gdn_ref):  # an expert's gradient sums every rank's tokens
        dist.all_reduce(g)

    local = slice(rank * L, (rank + 1) * L)
    w_gate = full.gate_up_proj[local, :F_].detach().clone().requires_grad_()
    w_up = full.gate_up_proj[local, F_:].detach().clone().requires_grad_()
    w_down = full.down_proj[local].detach().clone().requires_grad_()
    y = ep_experts_padded(x_TD, idx_TK, weight_TK, w_gate, w_up, w_down, dist.group.WORLD, world, grouped=grouped)
    gx, g_gate, g_up, g_down = torch.autograd.grad(y, [x_TD, w_gate, w_up, w_down], g_TD)
    torch.save({"y": (y, y_ref), "gx": (gx, gx_ref), "g_gate_up": (torch.cat([g_gate, g_up], 1), ggu_ref[local]),
                "g_down": (g_down, gdn_ref[local])}, os.path.join(out_dir, f"rank{rank}.pt"))
    dist.destroy_process_group()


@pytest.mark.parametrize("world,routing,grouped", [(2, "random", False), (2, "all_to_rank0", False),
                                                   (2, "own_rank", False), (4, "random", True),
                                                   (4, "all_to_rank0", True)])
def test_padded_expert_parallel_dispatch_equals_local_experts_in_output_and_gradients(tmp_path, world, routing,
                                                                                      grouped):
    """world gloo ranks with 2 experts each: outputs, input gradients and each expert's gradient (summed over every
    rank's tokens) equal the all-local computation, also when ranks receive nothing or only padding; grouped runs the
    grouped-GEMM path (rows past the last group left unwritten) where this torch has it on CPU."""
    import torch.multiprocessing as mp

    if grouped and not _grouped_mm_runs_on_cpu():
        pytest.skip("grouped_mm has no CPU kernel in this torch")
    mp.spawn(_padded_ep_rank, args=(world, str(tmp_path / "init"), routing, grouped, str(tmp_path)), nprocs=world,
             join=True)
    for rank in range(world):
        for name, (got, want) in torch.load(tmp_path / f"rank{rank}.pt").items():
            torch.testing.assert_close(got, want, rtol=1e-5, atol=2e-5, msg=f"rank {rank} {name}")


def test_partial_permute_has_the_gradient_of_a_masked_gather():
    from s1model.fast_moe import partial_permute

    x_XD = torch.randn(5, 3, requires_grad=True)
    src_M, valid_M = torch.tensor([4, 0, 0, 2, 0, 0]), torch.tensor([True, True, False, True, False, False])
    back_X = torch.tensor([1, 0, 3, 0, 0])  # row i of x went to out[back[i]] when back_valid[i]
    back_valid_X = torch.tensor([True, False, True, False, True])
    g_MD = torch.randn(6, 3)
    got, = torch.autograd.grad(partial_permute(x_XD, src_M, valid_M, back_X, back_valid_X), x_XD, g_MD)
    want, = torch.autograd.grad(torch.where(valid_M[:, None], x_XD[src_M], 0), x_XD, g_MD)
    torch.testing.assert_close(got, want)  # rows 1 and 3 (padding) get zero, not a copy of out[0]'s gradient


def test_autoep_switches_reach_deepspeed_and_an_untraceable_combination_is_refused_up_front():
    from s1model.config import AutoEPOptions
    from s1model.engine import ds_config

    cfg = tiny().model_copy(update={"model_impl": "s1", "ep_size": 2,
                                    "autoep": AutoEPOptions(gate_up_impl="fused", combine_impl="fused_weighted_sum")})
    ep = ds_config(cfg, world_size=2)["expert_parallel"]
    assert (ep["autoep_size"], ep["gate_up_impl"], ep["combine_impl"], ep["async_split_plan"]) == (
        2, "fused", "fused_weighted_sum", False)
    with pytest.raises(ValueError, match="compile_with_autoep='attention'"):  # dynamo cannot trace its host copy
        tiny().model_copy(update={"model_impl": "s1", "ep_size": 2}).model_validate(
            {**cfg.model_dump(), "autoep": {"async_split_plan": True}})
    ok = {**cfg.model_dump(), "autoep": {"async_split_plan": True}, "fast_moe": {"compile_with_autoep": "attention"}}
    assert type(cfg).model_validate(ok).autoep.async_split_plan
    for fine in ({"fast_moe": {"compile_with_autoep": "attention"}}, {"fast_moe": {"compile": "off"}},
                 {"ep_size": 1}):  # nothing is traced, or AutoEP is not used
        assert type(cfg).model_validate({**cfg.model_dump(), "autoep": {"async_split_plan": True}, **fine})
    with pytest.raises(ValueError, match="model_impl='s1'"):  # padded is the s1 model's dispatch, not HF's
        type(cfg).model_validate({**cfg.model_dump(), "model_impl": "hf", "fast_moe": {"ep_dispatch": "padded"}})
