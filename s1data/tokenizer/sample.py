"""A bounded, deterministic sample of training texts streamed from a partitioned dataset.

The tokenizer does not need the whole corpus: it is trained on the documents with the smallest
sha256(seed:doc_id), at most `max_docs` of them and at most `max_chars` characters in all. The files are read one
record batch at a time and only a heap of (key, text) of the chosen documents is kept, so memory is bounded by the
sample, not the corpus; the sample does not depend on how the dataset is split into files or on their order.
"""

from __future__ import annotations

import hashlib
import heapq


def sample_texts(dataset: str, max_docs: int, max_chars: int | None = None, seed: int = 0,
                 batch_rows: int = 8192) -> list[str]:
    """Texts of the `max_docs` documents of `dataset` (a parquet file or folder, local or URL) with the smallest
    sha256(seed:doc_id), in key order, cut to at most `max_chars` characters in all."""
    import pyarrow.parquet as pq

    from s1data.parts import dataset_files, filesystem

    heap: list[tuple[bytes, str]] = []  # max-heap by key through negated bytes: (inverted key, text)
    for path in dataset_files(dataset):
        fs, p = filesystem(path)
        with fs.open(p, "rb") as fh:
            for batch in pq.ParquetFile(fh).iter_batches(batch_size=batch_rows, columns=["doc_id", "text"]):
                for doc_id, text in zip(batch.column("doc_id").to_pylist(), batch.column("text").to_pylist()):
                    key = hashlib.sha256(f"{seed}:{doc_id}".encode("utf-8", "replace")).digest()
                    inv = bytes(255 - b for b in key)
                    if len(heap) < max_docs:
                        heapq.heappush(heap, (inv, text or ""))
                    elif inv > heap[0][0]:
                        heapq.heapreplace(heap, (inv, text or ""))
    texts, total = [], 0
    for _, text in sorted(heap, reverse=True):  # smallest key first
        if max_chars is not None and total + len(text) > max_chars:
            break
        texts.append(text)
        total += len(text)
    return texts
