"""API keys are secrets: masked in stored run parameters, read from the field or from a named variable."""

import json

from s1data.pdf.config import PdfConfig
from s1model.rl.generate import GenerationConfig
from s1model.rl.rewards import OpenAIJudge


def test_the_vlm_key_is_masked_in_the_parameters_a_run_stores_but_sent_to_the_endpoint():
    from s1data.pdf.parse import _vlm_client

    c = PdfConfig(high_cost_route="vlm", vlm_url="http://127.0.0.1:9/v1", vlm_api_key="k3y-secret")
    stored = json.dumps(c.model_dump(mode="json"))  # what flows.context gives the manifest's params_json
    assert "k3y-secret" not in stored and "**********" in stored
    assert "k3y-secret" not in json.dumps(c.cache_params(), default=str)
    assert _vlm_client(c).headers == {"Authorization": "Bearer k3y-secret"}


def test_the_vlm_key_can_come_from_a_named_environment_variable(monkeypatch):
    from s1data.pdf.parse import _vlm_client

    monkeypatch.setenv("MY_VLM_KEY", "from-env")
    c = PdfConfig(high_cost_route="vlm", vlm_url="http://127.0.0.1:9/v1", vlm_api_key_env="MY_VLM_KEY")
    assert _vlm_client(c).headers == {"Authorization": "Bearer from-env"}
    assert "from-env" not in json.dumps(c.model_dump(mode="json"))


def test_the_rollout_server_key_is_a_secret_and_the_judge_takes_a_variable_name(monkeypatch):
    g = GenerationConfig(openai_api_key="rollout-secret")
    assert "rollout-secret" not in json.dumps(g.model_dump(mode="json"))
    assert GenerationConfig(**g.model_dump()).openai_api_key.get_secret_value() == "rollout-secret"
    monkeypatch.setenv("JUDGE_KEY", "judge-secret")
    assert OpenAIJudge("http://127.0.0.1:9/v1", "m", api_key_env="JUDGE_KEY").api_key == "judge-secret"
