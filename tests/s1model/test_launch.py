from s1model.config import tiny
from s1model.config import PretrainConfig
from s1model.launch import deepspeed_command, local_command


def test_deepspeed_command_runs_the_entry_module_on_every_host_of_the_hostfile():
    cmd = deepspeed_command(tiny(), ["a.parquet", "b.parquet"], "/out", hostfile="/h", num_nodes=2, num_gpus=8,
                            master_port=29600, metrics_path="/out/m.jsonl")
    assert cmd[:9] == ["deepspeed", "--hostfile", "/h", "--num_nodes", "2", "--num_gpus", "8", "--master_port",
                       "29600"]
    i = cmd.index("--module")
    assert cmd[i + 1] == "s1model.train_entry"
    assert PretrainConfig.model_validate_json(cmd[cmd.index("--config") + 1]) == tiny()
    assert cmd[cmd.index("--shards") + 1:cmd.index("--shards") + 3] == ["a.parquet", "b.parquet"]
    assert "--no-resume" not in cmd and cmd[-2:] == ["--metrics", "/out/m.jsonl"]


def test_local_command_is_the_same_entry_point_without_the_launcher():
    cmd = local_command("/cfg.json", ["a.parquet"], "/out", resume=False)
    assert cmd[1:3] == ["-m", "s1model.train_entry"] and cmd[-1] == "--no-resume"
