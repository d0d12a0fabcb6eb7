"""Resume after kill -9 at a random step reproduces the uninterrupted run bit for bit on CPU: final weights, the
optimizer's moments and step counts, the LR schedule, RNG states; data position from (seed, step)."""

import glob
import json
import os
import random
import signal
import time

import pytest
import torch
from safetensors.torch import load_file

from s1model.config import tiny
from s1model.train import load_rng_state
from tests.s1model.conftest import entry_argv, spawn

# batch-size warm-up (rows per step change over the first steps) and the streaming row source: the data position is
# not a plain multiple of the step
CFG = tiny().model_copy(update={"max_steps": 10, "checkpoint_every": 3, "micro_batch_size": 4,
                                "batch_warmup_start": 1, "batch_warmup_steps": 4, "stream_window_row_groups": 2})


def _steps(path) -> list[dict]:
    return [json.loads(x) for x in open(path)] if os.path.exists(path) else []


def _state(run_dir) -> dict[str, torch.Tensor]:
    """Final HF weights and every tensor of the last DeepSpeed checkpoint (model, optimizer, scheduler)."""
    out = {f"hf.{k}": v for k, v in load_file(glob.glob(f"{run_dir}/hf/*.safetensors")[0]).items()}
    last = open(f"{run_dir}/checkpoints/latest").read().strip()
    for f in sorted(glob.glob(f"{run_dir}/checkpoints/{last}/*.pt")):
        flat = []

        def walk(x, key):
            if isinstance(x, torch.Tensor):
                flat.append((key, x))
            elif isinstance(x, dict):
                for k in sorted(x, key=str):
                    walk(x[k], f"{key}.{k}")
            elif isinstance(x, (list, tuple)):
                for i, v in enumerate(x):
                    walk(v, f"{key}.{i}")
            elif isinstance(x, (int, float)) and not isinstance(x, bool) and "time" not in key:
                flat.append((key, torch.tensor(x)))

        walk(torch.load(f, weights_only=False, map_location="cpu"), os.path.basename(f))
        out.update(flat)
    return out


@pytest.mark.parametrize("seed", [int(os.environ.get("S1_TEST_KILL_SEED", random.randrange(10**6)))])
def test_kill_9_at_a_random_step_then_resume_gives_bit_identical_weights_and_optimizer_state(seed, tiny_shards,
                                                                                            tmp_path):
    kill_after = random.Random(seed).randrange(1, CFG.max_steps)  # metrics lines seen before the kill
    cfg = CFG.model_dump_json()
    ref = spawn(entry_argv(cfg, tiny_shards, str(tmp_path / "ref"), "--metrics", str(tmp_path / "ref.jsonl")))
    run_m = str(tmp_path / "run.jsonl")
    victim = spawn(entry_argv(cfg, tiny_shards, str(tmp_path / "run"), "--metrics", run_m))
    deadline = time.time() + 300
    while time.time() < deadline and len(_steps(run_m)) < kill_after:
        assert victim.poll() is None, "the run ended before it could be killed"
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = max((m["step"] for m in _steps(run_m)), default=0)
    assert killed_at < CFG.max_steps, f"seed {seed}"

    result_path = str(tmp_path / "result.json")
    resumed = spawn(entry_argv(cfg, tiny_shards, str(tmp_path / "run"), "--metrics", run_m, "--result", result_path))
    assert resumed.wait(timeout=300) == 0 and ref.wait(timeout=300) == 0
    result = json.load(open(result_path))
    assert result["resumed_from"] == 3 * (killed_at // 3) or result["resumed_from"] == 3 * ((killed_at - 1) // 3), \
        (seed, killed_at, result["resumed_from"])  # the last checkpoint written whole (a save may have been cut)

    a, b = _state(tmp_path / "ref"), _state(tmp_path / "run")
    assert set(a) == set(b) and len(a) > 20
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert differ == [], f"seed {seed}, killed after step {killed_at}: {differ[:5]}"

    # the metrics file has each re-run step twice (the killed attempt's and the resumed one's), with equal values
    by_step: dict[int, list[dict]] = {}
    for m in _steps(run_m):
        by_step.setdefault(m["step"], []).append(m)
    reference = {m["step"]: m for m in _steps(tmp_path / "ref.jsonl")}
    assert sorted(by_step) == sorted(reference) == list(range(1, CFG.max_steps + 1))
    for step, ms in by_step.items():
        for m in ms:
            assert (m["loss"], m["grad_norm"], m["lr"]) == (reference[step]["loss"], reference[step]["grad_norm"],
                                                             reference[step]["lr"]), (seed, step)


def test_rng_states_are_saved_with_each_checkpoint_and_restored_on_resume(tiny_shards, tmp_path):
    import numpy as np

    from s1model.train import pretrain

    cfg = tiny().model_copy(update={"max_steps": 2, "checkpoint_every": 2, "export_hf": False})
    pretrain(cfg, tiny_shards, str(tmp_path / "run"))
    path = tmp_path / "run" / "checkpoints" / "step2" / "rng_rank0.pt"
    assert path.exists()
    saved = torch.load(path, weights_only=True)  # plain tensors and tuples: no pickle of arbitrary objects
    torch.manual_seed(123)
    random.seed(123)
    np.random.seed(123)
    assert load_rng_state(str(path))
    assert torch.equal(torch.get_rng_state(), saved["torch"])
    assert random.getstate()[1] == tuple(saved["python"][1])
    assert not load_rng_state(str(tmp_path / "nowhere.pt"))
