"""A bounded, deterministic sample of training texts streamed from a partitioned dataset.

The tokenizer does not need the whole corpus: it is trained on the documents with the smallest
sha256(seed:doc_id), at most `max_docs` of them and at most `max_chars` characters in all. The sample does not depend
on how the dataset is split into files or on their order.

Two passes over the files, one record batch at a time: the first keeps a heap of (key, doc_id, length) only -- the
text column is measured in Arrow, never turned into Python strings -- and picks the sample; the second yields the
chosen texts as it meets them. So memory is bounded by the sample's *ids*, not by its text and not by the corpus:
`iter_sample_texts` feeds the tokenizer trainer without the sample ever being held in one list (issue 17: at 20 GB of
WARC the held sample of 1e9 characters and its segmented copy took the tokenize flow to 6.3 GiB).
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterator


def _key(seed: int, doc_id) -> bytes:
    return hashlib.sha256(f"{seed}:{doc_id}".encode("utf-8", "replace")).digest()


def _batches(dataset: str, columns: list[str], batch_rows: int):
    import pyarrow.parquet as pq

    from s1data.parts import dataset_files, filesystem

    for path in dataset_files(dataset):
        fs, p = filesystem(path)
        with fs.open(p, "rb") as fh:
            yield from pq.ParquetFile(fh).iter_batches(batch_size=batch_rows, columns=columns)


def sample_ids(dataset: str, max_docs: int, max_chars: int | None = None, seed: int = 0,
               batch_rows: int = 8192) -> list[str]:
    """The doc_ids of the sample, smallest key first: the `max_docs` smallest sha256(seed:doc_id), cut where the
    running sum of their texts' characters would pass `max_chars`. Reads ids and text lengths only."""
    import pyarrow.compute as pc

    heap: list[tuple[bytes, str, int]] = []  # max-heap by key through inverted bytes: (inverted key, doc_id, chars)
    held: set[str] = set()  # ids in the heap: a doc_id repeated in the dataset is sampled once
    for batch in _batches(dataset, ["doc_id", "text"], batch_rows):
        lengths = pc.fill_null(pc.utf8_length(batch.column("text")), 0).to_pylist()
        for doc_id, n in zip(batch.column("doc_id").to_pylist(), lengths):
            doc_id = str(doc_id)
            if doc_id in held:
                continue
            inv = bytes(255 - b for b in _key(seed, doc_id))
            if len(heap) < max_docs:
                heapq.heappush(heap, (inv, doc_id, n))
                held.add(doc_id)
            elif inv > heap[0][0]:
                held.discard(heapq.heapreplace(heap, (inv, doc_id, n))[1])
                held.add(doc_id)
    ids, total = [], 0
    for _, doc_id, n in sorted(heap, reverse=True):  # smallest key first
        if max_chars is not None and total + n > max_chars:
            break
        ids.append(doc_id)
        total += n
    return ids


def _chosen(dataset: str, ids: list[str], batch_rows: int) -> Iterator[tuple[str, str]]:
    """(doc_id, text) of the chosen ids in the dataset's file order, each id once."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not ids:
        return
    wanted = pa.array(ids, type=pa.string())
    seen: set[str] = set()
    for batch in _batches(dataset, ["doc_id", "text"], batch_rows):
        doc_ids = batch.column("doc_id").cast(pa.string())
        mask = pc.is_in(doc_ids, value_set=wanted)
        if not pc.any(mask).as_py():
            continue
        hit = batch.filter(mask)
        for doc_id, text in zip(hit.column("doc_id").to_pylist(), hit.column("text").to_pylist()):
            if doc_id not in seen:
                seen.add(doc_id)
                yield doc_id, text or ""


def iter_sample_texts(dataset: str, max_docs: int, max_chars: int | None = None, seed: int = 0,
                      batch_rows: int = 8192) -> Iterator[str]:
    """The sample's texts, streamed in the dataset's file order (the tokenizer's counts do not depend on order)."""
    ids = sample_ids(dataset, max_docs, max_chars, seed, batch_rows)
    for _, text in _chosen(dataset, ids, batch_rows):
        yield text


def sample_texts(dataset: str, max_docs: int, max_chars: int | None = None, seed: int = 0,
                 batch_rows: int = 8192) -> list[str]:
    """The sample's texts as a list, smallest key first (holds the sample: for tests and small data)."""
    ids = sample_ids(dataset, max_docs, max_chars, seed, batch_rows)
    texts = dict(_chosen(dataset, ids, batch_rows))
    return [texts[i] for i in ids]
