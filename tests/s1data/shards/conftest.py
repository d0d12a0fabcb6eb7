import random

import pyarrow as pa
import pytest

from s1data.tokenizer import TokenizerConfig, load_tokenizer, train_tokenizer
from tests.s1data.tokenizer.corpus import PROSE, PROTEINS, mixed_corpus, nci_smiles


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("shard_tokenizer")
    train_tokenizer(mixed_corpus(100), out, TokenizerConfig(vocab_size=500, smiles_vocab_size=300,
                                                            protein_vocab_size=280, dna_vocab_size=270))
    return out


@pytest.fixture(scope="session")
def tok(tokenizer_dir):
    return load_tokenizer(tokenizer_dir)


def make_docs(n: int = 600, seed: int = 0) -> pa.Table:
    """Documents of varied length over domains science/general/null and sources pdf/web."""
    rng = random.Random(seed)
    smiles = nci_smiles(200)
    rows = {"doc_id": [], "text": [], "domain": [], "source_kind": []}
    for i in range(n):
        domain = ["science", "general", None, "code"][i % 4]
        parts = [rng.choice(PROSE) for _ in range(rng.randint(1, 6))]
        if domain == "science":
            parts.insert(1, f"The molecule {rng.choice(smiles)} binds {rng.choice(PROTEINS)}.")
        rows["doc_id"].append(f"doc-{i:04d}")
        rows["text"].append(" ".join(parts))
        rows["domain"].append(domain)
        rows["source_kind"].append("pdf" if rng.random() < 0.6 else "web")
    return pa.table(rows)


@pytest.fixture(scope="session")
def docs():
    return make_docs()
