"""InternBootCamp-shaped tasks end to end, as a user runs them: `s1 run bootcamp` with import paths and a JSON task
config file, then `s1 run online-rl` on those prompts (tiny model on CPU, completions from a local stand-in server),
rewards from the tasks' own verify_score in Ray reward workers, a raising and a spinning verifier included."""

import json
import os
import subprocess
import sys
from pathlib import Path

from storage import open_storage, read_parquet

REPO = Path(__file__).resolve().parents[2]
S1 = [sys.executable, "-m", "flows.cli"]
MOD = "tests.s1data.bootcamp.ibc_tasks"
WORDS, RAISES, SLOW = f"{MOD}:WordSetbootcamp", f"{MOD}:Raisingbootcamp", f"{MOD}:Slowbootcamp"
# 100+ characters with a think block (InternBootCamp's short and format penalties), then 8 words: the Jaccard
# overlap with any 4 hidden words is exactly 4/8
COMPLETION = ("<think>" + "the hidden words are among the eight names " * 3 + "</think> "
              "\\boxed{alpha, beta, gamma, delta, epsilon, zeta, eta, theta}")


def _s1(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, S1_HOME=str(home), PREFECT_HOME=str(home / "prefect"), PYTHONPATH=str(REPO))
    env.pop("PREFECT_API_URL", None)
    out = subprocess.run([*S1, *args], env=env, capture_output=True, text=True, timeout=900, cwd=REPO)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out


def _seed_model_and_tokenizer(home: Path, prompts: list[str]) -> None:
    """A tokenizer trained on the prompts and a tiny Qwen3-MoE, committed as `tokenizer` and `cpt_checkpoint`."""
    from flows.context import RunParams, open_run, single_stage
    from s1data.tokenizer import TokenizerConfig, load_tokenizer, train_tokenizer
    from s1model.config import tiny
    from s1model.model import build_model

    def tok(dirs):
        train_tokenizer((prompts + [COMPLETION]) * 4, dirs["tokenizer"],
                        TokenizerConfig(vocab_size=512, smiles_vocab_size=256, protein_vocab_size=256,
                                        dna_vocab_size=256, detect_smiles=False, detect_sequences=False))
        return {}

    with open_run("seed", RunParams(home=str(home))) as ctx:
        arts, _ = single_stage(ctx, "tokenizer", "test-seed", {"n": len(prompts)}, [], {"tokenizer": "dir"}, tok)

        def model(dirs):
            cfg = tiny()
            cfg.model.vocab_size = load_tokenizer(str(dirs["tokenizer_dir"])).vocab_size
            build_model(cfg).save_pretrained(str(dirs["cpt_checkpoint"]))
            return {}

        tok_dir = Path(arts["tokenizer"]["uri"])
        single_stage(ctx, "seed_model", "test-seed", {}, [arts["tokenizer"]], {"cpt_checkpoint": "hf"},
                     lambda dirs: model({**dirs, "tokenizer_dir": tok_dir}))


def test_internbootcamp_tasks_run_through_s1_run_bootcamp_and_online_rl_with_their_own_rewards(tmp_path):
    from tests.s1model.rl.standin_server import StandInOpenAIServer

    home = tmp_path / "home"
    home.mkdir()
    conf = tmp_path / "WordSetbootcamp_train.json"
    conf.write_text(json.dumps([{"k": 4}, {"k": 4, "vocabulary": 6}]))
    _s1(home, "run", "bootcamp", "--set", f"bootcamp.tasks={json.dumps([WORDS, RAISES, SLOW])}",
              "--set", f"bootcamp.task_configs={json.dumps({WORDS: str(conf)})}", "--set", "bootcamp.n_per_config=4")

    root, m = open_storage(home)
    rl = read_parquet(Path(m.resolve_artifact("rl_prompts")["uri"]) / "prompts.parquet").to_pylist()
    sources = {r["data_source"] for r in rl}
    assert sources == {WORDS, RAISES, SLOW}
    assert sum(r["data_source"] == WORDS for r in rl) >= 6  # 2 configs x 4 cases, minus duplicate draws
    # no reference traces for tasks without one; WordSet's reference_solution scores 1, so it has SFT rows
    sft = read_parquet(Path(m.resolve_artifact("sft_data")["uri"]) / "sft.parquet").to_pylist()
    assert {r["task"] for r in sft} == {WORDS}

    _s1(home, "run", "bootcamp", "--set", f"bootcamp.tasks={json.dumps([WORDS, RAISES, SLOW])}",
        "--set", f"bootcamp.task_configs={json.dumps({WORDS: str(conf)})}", "--set", "bootcamp.n_per_config=4")
    assert m.resolve_artifact("rl_prompts")["version"] == 1  # same tasks, same config file: served from cache
    conf.write_text(json.dumps([{"k": 3}]))  # an edited config file is a new export, not a cache hit
    _s1(home, "run", "bootcamp", "--set", f"bootcamp.tasks={json.dumps([WORDS, RAISES, SLOW])}",
        "--set", f"bootcamp.task_configs={json.dumps({WORDS: str(conf)})}", "--set", "bootcamp.n_per_config=4")
    assert m.resolve_artifact("rl_prompts")["version"] == 2
    conf.write_text(json.dumps([{"k": 4}, {"k": 4, "vocabulary": 6}]))
    _s1(home, "run", "bootcamp", "--set", f"bootcamp.tasks={json.dumps([WORDS, RAISES, SLOW])}",
        "--set", f"bootcamp.task_configs={json.dumps({WORDS: str(conf)})}", "--set", "bootcamp.n_per_config=4")

    _seed_model_and_tokenizer(home, [r["prompt"] for r in rl])
    with StandInOpenAIServer(completion_text=COMPLETION, weight_sync=True) as server:
        online = {"steps": 1, "ray_num_cpus": 2,
                  "rollout": {"group_size": 4, "prompts_per_step": 6, "oversample": 1.0, "max_rounds": 1,
                              "sampling": {"max_new_tokens": 8, "temperature": 1.0, "seed": 0},
                              "generation": {"backend": "openai", "openai_base_url": server.base_url},
                              "num_actors": 1, "actor_cpus": 1.0},
                  "rewards": {"timeout_s": 30.0, "routes": [
                      {"pattern": "*:*", "judge": "bootcamp", "params": {"timeout_s": 2.0}},
                      {"pattern": "*", "judge": "format"}]}}
        _s1(home, "run", "online-rl", "--set", "model=cpt_checkpoint", "--set", "prompts=rl_prompts:1",
            "--set", f"online={json.dumps(online)}")
    assert server.loaded and server.weight_version is not None  # the policy was pushed through SGLang's API shape

    metrics = {r["name"]: r["value"] for r in m.query("SELECT name, value FROM metrics WHERE name LIKE 'rl.reward%'")}
    by_source = {k[len("rl.reward."):]: v for k, v in metrics.items() if k.startswith("rl.reward.")}
    words = [v for k, v in by_source.items() if k.endswith("WordSetbootcamp")]
    # half of each group ends by EOS (0.5: partial credit kept), half hits max_new_tokens (truncated: 0)
    assert words and 0.0 < words[0] < 1.0
    for name in ("Raisingbootcamp", "Slowbootcamp"):  # raising and spinning verifiers: 0, the step still ran
        assert all(v == 0.0 for k, v in by_source.items() if k.endswith(name))
    assert m.resolve_artifact("rl_checkpoint")
