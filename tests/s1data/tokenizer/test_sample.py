"""The tokenizer's training sample: bounded, deterministic, independent of how the dataset is split into files."""

import hashlib

import pyarrow as pa
import pyarrow.parquet as pq

from s1data.tokenizer.sample import sample_texts


def _table(n: int) -> pa.Table:
    return pa.table({"doc_id": [f"d{i}" for i in range(n)], "text": [f"text of document {i}" for i in range(n)]})


def test_the_sample_is_the_smallest_keys_whatever_the_files(tmp_path):
    t = _table(1000)
    pq.write_table(t, tmp_path / "one.parquet", row_group_size=64)
    (tmp_path / "many").mkdir()
    for i, start in enumerate(range(0, 1000, 130)):
        pq.write_table(t.slice(start, 130), tmp_path / "many" / f"part-{i:05d}.parquet", row_group_size=50)
    want_ids = sorted(range(1000), key=lambda i: hashlib.sha256(f"7:d{i}".encode()).digest())[:100]
    want = [f"text of document {i}" for i in want_ids]
    assert sample_texts(str(tmp_path / "one.parquet"), 100, seed=7) == want
    assert sample_texts(str(tmp_path / "many"), 100, seed=7, batch_rows=17) == want
    assert sample_texts(str(tmp_path / "many"), 100, seed=8) != want


def test_the_character_budget_cuts_the_sample(tmp_path):
    pq.write_table(_table(50), tmp_path / "d.parquet")
    texts = sample_texts(str(tmp_path / "d.parquet"), 50, max_chars=200)
    assert 0 < sum(map(len, texts)) <= 200 and len(texts) < 50


def test_the_streamed_sample_holds_the_same_texts_in_file_order_and_reads_ids_before_any_text(tmp_path, monkeypatch):
    import s1data.tokenizer.sample as sample

    t = _table(600)
    (tmp_path / "many").mkdir()
    for i, start in enumerate(range(0, 600, 70)):
        pq.write_table(t.slice(start, 70), tmp_path / "many" / f"part-{i:05d}.parquet", row_group_size=20)
    listed = sample_texts(str(tmp_path / "many"), 80, max_chars=1500, seed=3)
    it = sample.iter_sample_texts(str(tmp_path / "many"), 80, max_chars=1500, seed=3)
    assert not isinstance(it, list)
    streamed = list(it)
    assert sorted(streamed) == sorted(listed) and len(streamed) == len(listed) > 10
    # file order: document numbers ascend in the stream (the files are d0.. in order), not key order as listed
    nums = [int(s.rsplit(" ", 1)[1]) for s in streamed]
    assert nums == sorted(nums) and nums != [int(s.rsplit(" ", 1)[1]) for s in listed]


def test_a_duplicated_doc_id_is_sampled_once(tmp_path):
    t = _table(40)
    pq.write_table(pa.concat_tables([t, t]), tmp_path / "dup.parquet")
    texts = sample_texts(str(tmp_path / "dup.parquet"), 40)
    assert sorted(texts) == sorted(t.column("text").to_pylist())


def test_a_tokenizer_trained_on_the_streamed_sample_equals_one_trained_on_the_listed_sample(tmp_path):
    """The trainer counts words: streaming the sample in file order instead of holding it in key order gives the same
    files, spans and characters (what lets the tokenize flow stream; issue 17)."""
    from s1data.tokenizer import TokenizerConfig, train_tokenizer
    from s1data.tokenizer.sample import iter_sample_texts
    from tests.s1data.tokenizer.corpus import mixed_corpus

    texts = mixed_corpus(300)
    pq.write_table(pa.table({"doc_id": [f"doc-{i}" for i in range(len(texts))], "text": texts}),
                   tmp_path / "curated.parquet", row_group_size=37)
    cfg = TokenizerConfig(vocab_size=700, smiles_vocab_size=400, protein_vocab_size=300, dna_vocab_size=280)
    src = str(tmp_path / "curated.parquet")
    a = train_tokenizer(sample_texts(src, 250, seed=1), tmp_path / "listed", cfg)
    b = train_tokenizer(iter_sample_texts(src, 250, seed=1), tmp_path / "streamed", cfg)
    assert a["training_texts"] == b["training_texts"] == 250
    assert a["training_spans"] == b["training_spans"] and a["training_chars"] == b["training_chars"]
    assert a["training_spans"]["smiles"] > 0 and a["training_spans"]["text"] > 0
    for name in a["files"]:
        assert (tmp_path / "listed" / name).read_bytes() == (tmp_path / "streamed" / name).read_bytes(), name
