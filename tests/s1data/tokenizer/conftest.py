import pytest

from s1data.tokenizer import TokenizerConfig, load_tokenizer, train_tokenizer
from tests.s1data.tokenizer.corpus import mixed_corpus

TINY = TokenizerConfig(vocab_size=600, smiles_vocab_size=400, protein_vocab_size=300, dna_vocab_size=280)


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("tokenizer")
    summary = train_tokenizer(mixed_corpus(), out, TINY)
    return out, summary


@pytest.fixture(scope="session")
def tok(trained):
    return load_tokenizer(trained[0])
