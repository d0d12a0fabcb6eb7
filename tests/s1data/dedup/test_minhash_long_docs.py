"""A document longer than one hashing chunk is hashed a chunk at a time (memory P × chunk, not P × its length),
with exactly the signature of hashing it whole."""

import numpy as np

from s1data.dedup import DedupConfig
from s1data.dedup.minhash import _normalised_words, _signatures_from_words


def test_long_documents_hashed_in_chunks_have_the_signatures_of_one_pass(shared_data):
    import json

    gt = json.loads((shared_data / "extraction-dev" / "ground-truth.json").read_text())
    bodies = [v["articleBody"] for v in gt.values()]
    long_doc = " ".join(bodies[:60])  # tens of thousands of words
    texts = [bodies[0], long_doc, bodies[1], bodies[2] + " " + long_doc, "", bodies[3]]
    words = [_normalised_words(t) for t in texts]
    cfg = DedupConfig()
    whole = _signatures_from_words(words, cfg, chunk_shingles=1 << 30)  # every document in one chunk
    for chunk in (1 << 13, 1000, 7):
        got = _signatures_from_words(words, cfg, chunk_shingles=chunk)
        assert got.dtype == whole.dtype and np.array_equal(got, whole), chunk
    assert len(words[1]) > 20 * 1000
