"""kill -9 of the `s1` process during online RL (`s1 run online-rl`, builtin engine rollouts on Ray, the DeepSpeed
engine trainer in-process): nothing it started survives it (Ray's GCS, raylet and workers included), and `s1 rerun`
finishes the run unaided from the last checkpoint with each step's metrics recorded once."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

from s1model.procs import tag_of, tagged

REPO = Path(__file__).resolve().parents[2]
S1 = [sys.executable, "-m", "flows.cli"]


def _cmdline(pid: int) -> str:
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _home_procs(home: Path) -> dict[int, str]:
    """Every process whose environment names this home, tagged or not."""
    needle = f"S1_HOME={home}".encode()
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != os.getpid():
            try:
                if needle in open(f"/proc/{d}/environ", "rb").read().split(b"\0"):
                    out[int(d)] = _cmdline(int(d))[:100]
            except OSError:
                pass
    return out


def _seed(home: Path) -> None:
    """tokenizer, cpt_checkpoint and rl_prompts (tail_compare, direct answers) in the home; the checkpoint is a tiny
    Qwen3-MoE after 40 SFT steps on the reference answers, so that rollout groups have mixed rewards and every RL
    step trains (an untrained model's groups all score 0: steps without updates take milliseconds)."""
    from flows.context import RunParams, open_run, single_stage
    from s1data.bootcamp import export, list_configs
    from s1data.tokenizer import TokenizerConfig, load_tokenizer, train_tokenizer
    from s1model.config import tiny
    from s1model.model import build_model
    from s1model.rl.config import OptimConfig
    from s1model.rl.offline import sft_train

    configs = [c for c in list_configs() if c.task == "tail_compare" and not c.params["decimal"]][:2]
    sft, rl, _ = export(configs, n_per_config=16, seed=0, style="direct")
    texts = [p + "\n" + r for p, r in zip(sft["prompt"].to_pylist(), sft["response"].to_pylist())] * 4
    with open_run("seed", RunParams(home=str(home))) as ctx:
        def tok(dirs):
            train_tokenizer(texts, dirs["tokenizer"], TokenizerConfig(
                vocab_size=512, smiles_vocab_size=256, protein_vocab_size=256, dna_vocab_size=256,
                detect_smiles=False, detect_sequences=False))
            pq.write_table(rl, dirs["rl_prompts"] / "prompts.parquet")
            return {}

        arts, _ = single_stage(ctx, "seed_data", "test-seed", {}, [], {"tokenizer": "dir", "rl_prompts": "parquet"},
                               tok)

        def model(dirs):
            tk = load_tokenizer(arts["tokenizer"]["uri"])
            cfg = tiny()
            cfg.model.vocab_size = tk.vocab_size
            torch.manual_seed(0)
            policy = build_model(cfg)
            pairs = [(tk.encode(p + "\n"), tk.encode(r) + [tk.eos_id])
                     for p, r in zip(sft["prompt"].to_pylist(), sft["response"].to_pylist())]
            sft_train(policy, pairs, OptimConfig(lr=3e-3, warmup_steps=3, micro_batch_size=16, max_seq_len=256),
                      steps=40, batch_size=16, pad_id=tk.pad_id)
            policy.save_pretrained(str(dirs["cpt_checkpoint"]))
            return {}

        single_stage(ctx, "seed_model", "test-seed", {}, [arts["tokenizer"]], {"cpt_checkpoint": "hf"}, model)


@pytest.mark.slow  # three CLI runs (Prefect, Ray, DeepSpeed start-up each): ~6 min at load 15 on 2 cores
@pytest.mark.timeout(1800)
def test_a_kill_9_of_s1_during_online_rl_leaves_no_process_and_rerun_resumes_with_metrics_once(tmp_path):
    home = tmp_path / "home"
    _seed(home)
    env = {k: v for k, v in os.environ.items() if k not in ("S1_OWNER", "PREFECT_API_URL", "S1_ARTIFACTS")}
    env.update(S1_HOME=str(home), PREFECT_HOME=str(home / "prefect"), PYTHONPATH=str(REPO))
    online = {"steps": 3, "checkpoint_every": 1, "ray_num_cpus": 2,
              "rollout": {"group_size": 4, "prompts_per_step": 2, "oversample": 1.0, "max_rounds": 1,
                          "sampling": {"max_new_tokens": 8, "temperature": 1.0, "seed": 0}, "num_actors": 1}}
    cmd = [*S1, "run", "online-rl", "--set", "model=cpt_checkpoint", "--set", "prompts=rl_prompts",
           "--set", f"online={json.dumps(online)}"]
    log = tmp_path / "run.log"
    cli = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    owner = tag_of(cli.pid)
    deadline, ray_up, latest = time.monotonic() + 600, False, []
    while time.monotonic() < deadline and not ray_up:
        assert cli.poll() is None, "the run ended before Ray started: " + log.read_text()[-2000:]
        ray_up = any("raylet" in _cmdline(p) for p in tagged(owner=owner))  # Ray is a tagged child
        time.sleep(0.5)
    while time.monotonic() < deadline and not latest:  # a step checkpointed: the rerun resumes there
        assert cli.poll() is None, "the run ended before its first checkpoint: " + log.read_text()[-2000:]
        latest = list((home / "work" / "online_rl").glob("*/checkpoints/latest"))
        time.sleep(0.05)
    assert ray_up and latest, "no online RL checkpoint within 600 s: " + log.read_text()[-2000:]
    cli.send_signal(signal.SIGKILL)  # the CLI alone, not its process group
    cli.wait()

    # the reaper: SIGTERM, 2 s grace, SIGKILL, again until none is left; Ray's agents take seconds to stop on a loaded
    # machine, hence 15 s (the 2-core CI box runs other jobs)
    t_kill = time.monotonic()
    while time.monotonic() < t_kill + 15 and (tagged(owner=owner) or _home_procs(home)):
        time.sleep(0.1)
    gone_s = time.monotonic() - t_kill
    assert {p: _cmdline(p)[:100] for p in tagged(owner=owner)} == {}, f"tagged processes left {gone_s:.1f} s after"
    assert _home_procs(home) == {}, f"processes of this home left {gone_s:.1f} s after the kill"

    from storage import open_storage

    _, m = open_storage(str(home))
    run_id = m.query("SELECT run_id FROM runs WHERE flow = 'online-rl' ORDER BY started_at DESC LIMIT 1")[0]["run_id"]
    out = subprocess.run([*S1, "rerun", run_id], env=env, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]

    assert m.get_run(run_id)["status"] == "completed"
    steps = m.query("SELECT m.step, count(*) AS n FROM metrics m JOIN stage_runs r USING (stage_run_id) "
                    "WHERE r.stage = 'online_rl' AND m.name = 'rl.reward_mean' GROUP BY m.step ORDER BY m.step")
    assert [(r["step"], r["n"]) for r in steps] == [(1, 1), (2, 1), (3, 1)]
    meta = json.loads(m.resolve_artifact("online_rl")["meta_json"])
    assert meta["final_step"] == 3 and 1 <= meta["resumed_from"] <= 2  # a checkpoint, and at least one step re-run
    report = json.loads((Path(m.resolve_artifact("online_rl")["uri"]) / "online_rl.json").read_text())
    assert [x["step"] for x in report["metrics"]] == [1, 2, 3]  # the artifact holds every step, the killed run's too
    assert m.resolve_artifact("rl_checkpoint")
