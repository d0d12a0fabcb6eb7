import json

import pyarrow as pa

from s1data.bootcamp import REGISTRY, TaskConfig, export, split_by_length, verify
from s1data.bootcamp.export import EXCLUSION_COLUMNS, RL_COLUMNS, SFT_COLUMNS

CONFIGS = [
    TaskConfig(task="tail_addition", params={"length": 12, "decimal": False}),
    TaskConfig(task="tail_addition", params={"length": 45, "decimal": True}),
    TaskConfig(task="tail_knapsack", params={"length": 7, "capacity_ratio": 0.5}),
    TaskConfig(task="chem_logp", params={"size": "medium", "rings": 1}),
]


def test_export_returns_tables_with_the_contract_columns_and_verified_responses():
    sft, rl, excl = export(CONFIGS, n_per_config=3, seed=0)
    assert set(SFT_COLUMNS) <= set(sft.column_names) and tuple(rl.column_names) == RL_COLUMNS
    assert tuple(excl.column_names) == EXCLUSION_COLUMNS
    assert sft.num_rows == rl.num_rows == 12 and excl.num_rows == 0
    assert set(rl.column("length_bucket").to_pylist()) == {"S", "L", "M"}
    for row in sft.to_pylist():
        assert row["data_source"] == f"bootcamp/{row['task']}"
        assert verify(row["task"], row["identity_json"], row["response"]) == 1.0
        assert json.loads(row["identity_json"])["task"] == row["task"]


def test_export_is_deterministic_under_the_seed_and_changes_with_it():
    a = export(CONFIGS, n_per_config=2, seed=11)
    b = export(CONFIGS, n_per_config=2, seed=11)
    c = export(CONFIGS, n_per_config=2, seed=12)
    assert a[0].equals(b[0]) and a[1].equals(b[1])
    assert a[1].column("sample_id").to_pylist() != c[1].column("sample_id").to_pylist()


def test_a_sample_does_not_depend_on_the_other_configs_in_the_mixture():
    alone = export(CONFIGS[2:3], n_per_config=2, seed=3)[1]
    mixed = export(CONFIGS, n_per_config=2, seed=3)[1]
    assert set(alone.column("sample_id").to_pylist()) <= set(mixed.column("sample_id").to_pylist())


def test_repeated_identities_are_excluded_with_a_reason():
    tiny = [TaskConfig(task="tail_derangement", params={"length": 3})]  # exactly one possible problem
    sft, rl, excl = export(tiny, n_per_config=4, seed=0)
    assert rl.num_rows == 1
    assert excl.column("reason").to_pylist() == ["bootcamp_duplicate_identity"] * 3


def test_a_reference_its_own_verifier_rejects_becomes_an_exclusion_row(monkeypatch):
    cls = REGISTRY["tail_lcs"]
    monkeypatch.setattr(cls, "check", lambda self, answer, identity: (False, "bootcamp_wrong_answer"))
    cfgs = [TaskConfig(task="tail_lcs", params={"length": 4, "alphabet": 2}), CONFIGS[0]]
    sft, rl, excl = export(cfgs, n_per_config=2, seed=0)
    assert set(rl.column("task").to_pylist()) == {"tail_addition"}
    reasons = excl.column("reason").to_pylist()
    assert reasons and set(reasons) == {"bootcamp_reference_rejected"}
    assert all("bootcamp_wrong_answer" in d for d in excl.column("detail").to_pylist())


def test_styles_a_task_cannot_render_are_excluded_not_crashed():
    sft, rl, excl = export(CONFIGS[:1] + CONFIGS[2:3], n_per_config=1, seed=0, style="reversed")
    assert sft.column("task").to_pylist() == ["tail_addition"]
    assert "reverse a:" in sft.column("response")[0].as_py()
    assert excl.column("reason").to_pylist() == ["bootcamp_style_unsupported"]


def test_length_split_trains_on_s_and_never_puts_an_eval_problem_in_train():
    _, rl, _ = export(CONFIGS, n_per_config=6, seed=0)
    train, evaluation = split_by_length(rl, train_buckets=("S",), eval_fraction=0.2, seed=0)
    assert set(train.column("length_bucket").to_pylist()) == {"S"}
    assert {"M", "L"} <= set(evaluation.column("length_bucket").to_pylist())
    assert not set(train.column("sample_id").to_pylist()) & set(evaluation.column("sample_id").to_pylist())
    assert train.num_rows + evaluation.num_rows == rl.num_rows
    assert isinstance(train, pa.Table)
