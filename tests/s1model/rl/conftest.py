"""Shared RL fixtures: tail_compare prompts (direct style), a BPE tokenizer trained on them, a tiny Qwen3-MoE built
from config, and the same model after a short SFT on the reference answers (so it emits \\boxed{<} or \\boxed{>})."""

from __future__ import annotations

import pytest
import torch

from s1data.bootcamp import export, list_configs
from s1data.tokenizer import TokenizerConfig, load_tokenizer, train_tokenizer
from s1model.config import tiny
from s1model.model import build_model
from s1model.rl.config import OptimConfig
from s1model.rl.offline import sft_train
from s1model.rl.policy import load_policy

TASK = "tail_compare"


@pytest.fixture(scope="session")
def compare_data():
    configs = [c for c in list_configs() if c.task == TASK and not c.params["decimal"]][:2]
    sft, rl, excl = export(configs, n_per_config=32, seed=0, style="direct")
    assert excl.num_rows == 0
    return sft, rl


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory, compare_data):
    sft, _ = compare_data
    texts = [p + "\n" + r for p, r in zip(sft["prompt"].to_pylist(), sft["response"].to_pylist())] * 4
    out = tmp_path_factory.mktemp("tok")
    train_tokenizer(texts, out, TokenizerConfig(vocab_size=512, smiles_vocab_size=256, protein_vocab_size=256,
                                                dna_vocab_size=256, detect_smiles=False, detect_sequences=False))
    return str(out)


@pytest.fixture(scope="session")
def base_model_dir(tmp_path_factory, tokenizer_dir):
    cfg = tiny()
    cfg.model.vocab_size = load_tokenizer(tokenizer_dir).vocab_size
    out = str(tmp_path_factory.mktemp("base"))
    build_model(cfg).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def sft_model_dir(tmp_path_factory, tokenizer_dir, base_model_dir, compare_data):
    """40 plain-AdamW SFT steps on the reference answers: the model learns the \\boxed{<|>} format, not the task."""
    sft, _ = compare_data
    tok = load_tokenizer(tokenizer_dir)
    pairs = [(tok.encode(p + "\n"), tok.encode(r) + [tok.eos_id])
             for p, r in zip(sft["prompt"].to_pylist(), sft["response"].to_pylist())]
    torch.manual_seed(0)
    model = load_policy(base_model_dir, "cpu")
    log = sft_train(model, pairs, OptimConfig(lr=3e-3, warmup_steps=3, micro_batch_size=16, max_seq_len=256),
                    steps=40, batch_size=16, pad_id=tok.pad_id)
    assert log[-1]["sft_loss"] < 0.5 * log[0]["sft_loss"]
    out = str(tmp_path_factory.mktemp("sft"))
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
