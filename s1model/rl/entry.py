"""Per-rank entry point of RL on the DeepSpeed engine: `python -m s1model.rl.entry ...` on every rank of the
`deepspeed` launcher (or of any launcher setting RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT).

  online   online_rl(config, --model, --tokenizer, --prompts parquet, --out): rank 0 drives Ray rollouts and
           broadcasts each batch; every rank trains its share of the sequences.
  offline  offline_rl(...) on rank 0's best-of-N, SFT over all ranks.
  update   one `train_groups` call on groups read from a JSON file (--groups), then an HF export to --out/hf:
           the unit the 2-rank CPU test compares with the single-process torch update.
--result FILE: rank 0 writes the returned dict (JSON) there.
"""

from __future__ import annotations

import argparse
import json
import os

import pyarrow.parquet as pq


def _groups_from_json(path: str) -> list[dict]:
    from s1model.rl.rewards import RewardResult

    raw = json.load(open(path))
    return [{"row": g.get("row", {}), "completions": g["completions"],
             "rewards": [RewardResult(float(s), "test", "test", "", "test") for s in g["rewards"]]} for g in raw]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("stage", choices=["online", "offline", "update"])
    p.add_argument("--config", required=True, help="JSON of OnlineRLConfig (online, update) or OfflineRLConfig.")
    p.add_argument("--model", required=True)
    p.add_argument("--tokenizer")
    p.add_argument("--prompts", help="rl_prompts parquet (online, offline).")
    p.add_argument("--sft", help="reference traces parquet (offline).")
    p.add_argument("--groups", help="groups JSON (update).")
    p.add_argument("--pad-id", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--result")
    a = p.parse_args(argv)

    from s1model.rl.config import OfflineRLConfig, OnlineRLConfig
    from s1model.rl.trainer import world

    cfg_json = open(a.config).read()
    if a.stage == "online":
        from s1model.rl.online import online_rl

        res = online_rl(OnlineRLConfig.model_validate_json(cfg_json), a.model, a.tokenizer,
                        pq.read_table(a.prompts), a.out)
    elif a.stage == "offline":
        from s1model.rl.offline import offline_rl

        res = offline_rl(OfflineRLConfig.model_validate_json(cfg_json), a.model, a.tokenizer,
                         pq.read_table(a.prompts), pq.read_table(a.sft) if a.sft else None, a.out)
    else:
        from s1model.rl.online import train_groups
        from s1model.rl.trainer import make_trainer

        cfg = OnlineRLConfig.model_validate_json(cfg_json)
        trainer = make_trainer(a.model, cfg.optim, cfg.grad_norm_skip)
        res = {"stats": train_groups(trainer, _groups_from_json(a.groups), cfg, a.pad_id),
               "world_size": trainer.world_size, "trainer": trainer.kind}
        res["hf"] = trainer.export_hf(os.path.join(a.out, "hf"))
    rank, _ = world()
    if a.result and rank == 0:
        with open(a.result, "w") as f:
            json.dump(res, f, default=str)


if __name__ == "__main__":
    main()
