"""Continued pretraining through the flow: DeepSpeed in its own process, checkpoints as artifacts, kill -9 + rerun."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from flows.pipeline import PipelineParams, demo_params, pipeline_flow
from flows.pretrain import PretrainFlowParams, pretrain_flow
from storage import Manifest, open_storage

S1 = [sys.executable, "-m", "flows.cli"]
OVERRIDES = {"seq_len": 128, "max_steps": 30, "checkpoint_every": 5}
STEPS = list(range(1, 31))


def _losses(home, run_id=None) -> dict[int, float]:
    _, m = open_storage(home)
    rows = m.query("SELECT step, value FROM metrics WHERE name = 'train.loss' ORDER BY recorded_at")
    return {r["step"]: r["value"] for r in rows}  # a resumed step's last value wins


def test_a_killed_pretraining_run_resumes_on_rerun_and_reproduces_the_loss_curve(tmp_path, shared_data):
    home, ref = tmp_path / "home", tmp_path / "ref"
    pipeline_flow(PipelineParams(**{**demo_params(str(home)), "train": False}))
    shutil.copytree(home, ref)  # same shard and tokenizer artifacts (absolute uris), separate work folders

    out = pretrain_flow(PretrainFlowParams(home=str(ref), pretrain=OVERRIDES))
    assert out["final_step"] == 30
    reference = _losses(ref)
    assert sorted(reference) == STEPS and reference[30] < reference[1]

    env = dict(os.environ, S1_HOME=str(home), PREFECT_HOME=str(home / "prefect"))
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.Popen([*S1, "run", "pretrain", "--set", "pretrain=" + json.dumps(OVERRIDES)], env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, ckpts = time.monotonic() + 400, 0
    while time.monotonic() < deadline and ckpts < 1:
        time.sleep(0.2)
        try:
            ckpts = Manifest(home / "manifest.duckdb", read_only=True, lock_timeout_s=5).query(
                "SELECT count(*) AS n FROM artifacts WHERE name = 'cpt_checkpoint' AND kind = 'deepspeed'")[0]["n"]
        except Exception:
            pass
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert ckpts >= 1

    _, m = open_storage(home)
    run = [r for r in m.list_runs() if r["flow"] == "pretrain"][0]
    assert run["status"] == "killed"
    subprocess.run([*S1, "rerun", run["run_id"]], env=env, check=True, capture_output=True, timeout=600)
    row = m.get_run(run["run_id"])
    assert (row["status"], row["attempt"]) == ("completed", 2)
    final = m.resolve_artifact("cpt_checkpoint")
    meta = json.loads(final["meta_json"])
    assert final["kind"] == "hf" and meta["final_step"] == 30 and meta["resumed_from"] >= 5

    resumed = _losses(home)
    assert sorted(resumed) == STEPS
    for step in STEPS:  # CPU fp32: the resumed curve is the uninterrupted one, step for step
        assert abs(resumed[step] - reference[step]) < 1e-5, (step, resumed[step], reference[step])
    ds = m.query("SELECT count(*) AS n FROM artifacts WHERE name = 'cpt_checkpoint' AND kind = 'deepspeed'")
    assert ds[0]["n"] == 6  # steps 5, 10, ..., 30, each recorded once across both attempts

    # the exported checkpoint is a plain Hugging Face model with our tokenizer beside it
    import torch
    from transformers import AutoModelForCausalLM

    from s1data.tokenizer import load_tokenizer

    model = AutoModelForCausalLM.from_pretrained(final["uri"])
    tok = load_tokenizer(final["uri"])
    ids = tok.encode("The phonon mean free path decreases with temperature.")
    assert tok.decode(ids) == "The phonon mean free path decreases with temperature."
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits
    assert logits.shape == (1, len(ids), model.config.vocab_size) and torch.isfinite(logits).all()

    # any step checkpoint exports to HF layout through its own flow, with lineage back to the checkpoint
    from safetensors.torch import load_file

    from flows.pretrain import ExportFlowParams, export_flow

    step30 = m.query("SELECT artifact_id FROM artifacts WHERE name = 'cpt_checkpoint' AND kind = 'deepspeed' "
                     "AND fingerprint LIKE '%-step30'")[0]["artifact_id"]
    out = export_flow(ExportFlowParams(home=str(home), checkpoint=str(step30)))
    exported = m.resolve_artifact(out["artifact"])
    assert exported["kind"] == "hf" and out["step"] == 30 and not out["cached"]
    assert step30 in {a["artifact_id"] for a in m.ancestors(exported["artifact_id"])}
    mine, final_weights = (load_file(os.path.join(a["uri"], "model.safetensors")) for a in (exported, final))
    assert set(mine) == set(final_weights) and all(torch.equal(mine[k], final_weights[k]) for k in mine)
    assert load_tokenizer(exported["uri"]).encode("phonon") == tok.encode("phonon")
    assert export_flow(ExportFlowParams(home=str(home), checkpoint=str(step30)))["cached"]
    with pytest.raises(ValueError, match="already in 'hf' layout"):
        export_flow(ExportFlowParams(home=str(home), checkpoint=out["artifact"]))

    # continue from that export: `init` takes the artifact (a lineage parent), seq_len comes from the shards (128,
    # not the tiny recipe's 64)
    cont = pretrain_flow(PretrainFlowParams(home=str(home), init=out["artifact"],
                                            pretrain={"max_steps": 2, "checkpoint_every": 0}))
    assert cont["final_step"] == 2
    cont_art = m.resolve_artifact(cont["artifact"])
    assert exported["artifact_id"] in {a["artifact_id"] for a in m.ancestors(cont_art["artifact_id"])}
    first = m.query("SELECT value FROM metrics m JOIN stage_runs r USING (stage_run_id) WHERE m.name = 'train.loss' "
                    "AND m.step = 1 ORDER BY m.recorded_at DESC LIMIT 1")[0]["value"]
    assert first < reference[1] - 1.0  # starts where step 30 left off, not from scratch
    with pytest.raises(ValueError, match="neither a folder nor a checkpoint artifact"):
        pretrain_flow(PretrainFlowParams(home=str(home), init="cpt_checkpoint:999"))
    with pytest.raises(ValueError, match="of kind 'deepspeed', not a Hugging Face checkpoint"):
        pretrain_flow(PretrainFlowParams(home=str(home), init=str(step30)))


def test_a_typo_in_recipe_overrides_is_rejected_with_the_closest_field():
    import pydantic

    from flows.rl import OnlineRLFlowParams

    with pytest.raises(pydantic.ValidationError, match="unknown PretrainConfig field 'max_stepz'; did you mean "
                                                       "'max_steps'"):
        PretrainFlowParams(pretrain={"max_stepz": 3})
    with pytest.raises(pydantic.ValidationError, match="'model.hiden_size'; did you mean 'model.hidden_size'"):
        PretrainFlowParams(pretrain={"model": {"hiden_size": 64}})
    with pytest.raises(pydantic.ValidationError, match="unknown OnlineRLConfig field 'max_steps'"):
        OnlineRLFlowParams(online={"max_steps": 2})
    assert PretrainFlowParams(pretrain={"max_steps": 3, "model": {"hidden_size": 64}}).pretrain["max_steps"] == 3
