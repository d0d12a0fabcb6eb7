"""s1data.cache: one budget, `$S1_CACHE_MB`, scales every per-process cache of the data stages (curation's and the
tokenizer's), read at import in the worker's environment."""

import json
import os
import subprocess
import sys

CODE = """
import json
import s1data.filters.base as base, s1data.filters.text as text, s1data.science.silver as silver
import s1data.tokenizer.detect as detect, s1data.tokenizer.dynamic as dynamic
print(json.dumps({"memo_rows": base.MEMO_MAX_ROWS, "chunks": text.CACHE_MAX_CHUNKS, "rules": silver.RULE_CACHE_MAX,
                  "bpe_words": dynamic.BPE_WORD_CACHE, "smiles": detect.smiles_is_valid.cache_info().maxsize}))
"""


def _bounds(cache_mb: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "S1_CACHE_MB"}
    if cache_mb is not None:
        env["S1_CACHE_MB"] = cache_mb
    out = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_one_budget_scales_the_curation_and_tokenizer_caches_alike():
    full, eighth = _bounds(None), _bounds("32")  # the default budget is 256 MB
    assert full == {"memo_rows": 200_000, "chunks": 100_000, "rules": 20_000, "bpe_words": 1 << 18,
                    "smiles": 1 << 18}
    assert eighth == {k: v // 8 for k, v in full.items()}
