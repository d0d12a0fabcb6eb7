import pytest

from s1model.config import tiny
from s1model.train import pretrain


@pytest.mark.gpu
def test_bf16_autoep_with_grouped_gemm_trains_on_one_gpu(tiny_shards, tmp_path):
    cfg = tiny().model_copy(update={"dtype": "bf16", "max_steps": 12, "micro_batch_size": 4, "export_hf": False})
    result = pretrain(cfg, tiny_shards, str(tmp_path / "run"))
    losses = [m["loss"] for m in result["metrics"]]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.5
