"""Command lines for the `deepspeed` launcher: one process per GPU on each host of a hostfile.

The flow writes the config JSON and runs the command; every rank runs s1model.train_entry, which calls pretrain().
"""

from __future__ import annotations

import shlex
import sys

from s1model.config import PretrainConfig


def deepspeed_command(config: PretrainConfig | str, shard_paths: list[str], out_dir: str, *,
                      hostfile: str | None = None, num_gpus: int | None = None, num_nodes: int | None = None,
                      master_addr: str | None = None, master_port: int | None = None, include: str | None = None,
                      resume: bool = True, metrics_path: str | None = None, result_path: str | None = None,
                      launcher: str = "deepspeed") -> list[str]:
    """argv for `deepspeed [--hostfile H] [--num_nodes N] [--num_gpus G] ... -m s1model.train_entry ...`.

    config: a PretrainConfig (passed inline as JSON) or the path of a JSON file. hostfile lines are
    `host slots=G`; without one the launcher uses the local GPUs (num_gpus of them, default all).
    """
    cmd = [launcher]
    if hostfile:
        cmd += ["--hostfile", hostfile]
    if num_nodes is not None:
        cmd += ["--num_nodes", str(num_nodes)]
    if num_gpus is not None:
        cmd += ["--num_gpus", str(num_gpus)]
    if include:
        cmd += ["--include", include]
    if master_addr:
        cmd += ["--master_addr", master_addr]
    if master_port is not None:
        cmd += ["--master_port", str(master_port)]
    config_arg = config.model_dump_json() if isinstance(config, PretrainConfig) else str(config)
    cmd += ["--module", "s1model.train_entry", "--config", config_arg, "--out", out_dir, "--shards", *shard_paths]
    if not resume:
        cmd.append("--no-resume")
    if metrics_path:
        cmd += ["--metrics", metrics_path]
    if result_path:
        cmd += ["--result", result_path]
    return cmd


def local_command(config: PretrainConfig | str, shard_paths: list[str], out_dir: str, **kw) -> list[str]:
    """The same entry point on one process without the launcher (CPU, tests): `python -m s1model.train_entry`."""
    cmd = deepspeed_command(config, shard_paths, out_dir, **kw)
    return [sys.executable, "-m"] + cmd[cmd.index("--module") + 1:]


def render(cmd: list[str]) -> str:
    """Shell-quoted form of a command for logs."""
    return shlex.join(cmd)
