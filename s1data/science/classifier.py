"""ScienceClassifier: hashed words (bigrams, char n-grams optional), multinomial logistic regression in numpy/scipy.

fastText-class cost: a batch of texts is lower-cased, cut to `max_chars`, and hashed in a few vectorised numpy passes
(no Python loop per token); each feature type is pooled (~unit L2 norm), so a document is one sparse row `X_type` per
type, and `logits_BK = Σ_type X_type @ W_DK + b_K`.

Feature types: words by default; word bigrams and byte n-grams are options. Measured on real text (2026-12-05,
benchmarks/results/science.md): trained on silver labels, words alone recall more science from sources the labels
did not cover (held-out-source F1 0.88 -> 0.91; an independent labelled set 0.71 -> 0.74) than words + bigrams + char
4-grams, which learn each source's style (punctuation, numbers, markup) as much as its topic.

Legend: B documents in a batch, N bytes in a batch, D = 2**hash_bits buckets, K = len(LABELS) labels.

Hashing: polynomial rolling hash over the UTF-8 bytes, mod 2**64 (numpy uint64 arithmetic wraps):
`H[i] = Σ_{j<i} byte[j]·P^j`, so the hash of bytes [s, e) is `(H[e] − H[s])·P^{−s}` (P odd, so P^{−1} exists mod
2**64). Word bigrams combine two word hashes; every hash gets a per-type salt and a multiply-shift into D buckets.

Labels: `"none"` and one label per `domain/subdomain` (`taxonomy.LABELS`); `science_score = 1 − p(none)`, the
domain is the one whose sub-domain probabilities sum highest and the sub-domain the best inside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from s1data.science.taxonomy import LABELS

_P = np.uint64(0x100000001B3)                      # FNV prime: odd, so invertible mod 2**64
_P_INV = np.uint64(pow(int(_P), -1, 2 ** 64))
_MIX = np.uint64(0x9E3779B97F4A7C15)               # Fibonacci multiply-shift constant
_SALT_WORD, _SALT_BIGRAM, _SALT_CHAR = np.uint64(0x51ED27), np.uint64(0xB16B00B5), np.uint64(0xC0FFEE)
_BIGRAM_MUL = np.uint64(0x2545F4914F6CDD1D)


class ClassifierConfig(BaseModel):
    hash_bits: int = Field(18, description="D = 2**hash_bits feature buckets (weights are D x K float32).")
    char_ngrams: list[int] = Field([], description="Byte n-gram lengths hashed over the whole lower-cased text "
                                   "(default none: on real text they learn a source's style, not its topic; see "
                                   "benchmarks/results/science.md, 2026-12-05).")
    word_bigrams: bool = Field(False, description="Hash adjacent word pairs as well as words (default off, as "
                               "char_ngrams).")
    max_chars: int = Field(3000, description="Characters of each text that are featurised (the head of the doc).")
    epochs: int = Field(5, description="Passes of minibatch Adagrad over the training set.")
    batch_size: int = Field(64, description="Training minibatch size.")
    learning_rate: float = Field(0.2, description="Adagrad step size.")
    l2: float = Field(1e-6, description="L2 penalty per example on W.")
    seed: int = Field(0, description="Shuffling seed.")


class _PowerTable:
    """P^i and P^{-i} mod 2**64 for i < n, grown on demand (cumprod in uint64 wraps, which is what we want)."""

    def __init__(self):
        self.pow = self.inv = np.ones(1, np.uint64)

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self.pow) < n:
            m = max(n, 2 * len(self.pow))
            with np.errstate(over="ignore"):
                one = np.ones(1, np.uint64)  # a Python [1] would promote uint64 to float64 and ruin the hashes
                self.pow = np.concatenate([one, np.cumprod(np.full(m - 1, _P, np.uint64))])
                self.inv = np.concatenate([one, np.cumprod(np.full(m - 1, _P_INV, np.uint64))])
        return self.pow[:n], self.inv[:n]


_POWERS = _PowerTable()


def _bucket(h: np.ndarray, bits: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        return ((h * _MIX) >> np.uint64(64 - bits)).astype(np.int32)


def hashed_features(texts: list[str], config: ClassifierConfig) -> list:
    """One scipy CSR matrix (B x D, float32, rows mean-pooled) per feature type: words, bigrams, each char n-gram."""
    from scipy import sparse

    B, D = len(texts), 1 << config.hash_bits
    encoded = [(t or "")[:config.max_chars].lower().encode("utf-8", "ignore") for t in texts]
    lens = np.fromiter((len(e) for e in encoded), np.int64, count=B)
    buf = np.frombuffer(b"\x00".join(encoded) + b"\x00", np.uint8)      # one NUL after every doc
    N = len(buf)
    doc_of = np.repeat(np.arange(B, dtype=np.int64), lens + 1)         # byte → doc (its NUL included)
    ppow, pinv = _POWERS.get(N + 1)
    with np.errstate(over="ignore"):
        H = np.zeros(N + 1, np.uint64)
        np.cumsum(buf.astype(np.uint64) * ppow[:N], out=H[1:])

        def span_hash(s, e):
            return (H[e] - H[s]) * pinv[s]

        is_word = (buf >= 0x80) | ((buf >= ord("a")) & (buf <= ord("z"))) | ((buf >= ord("0")) & (buf <= ord("9")))
        edge = np.diff(np.concatenate([[False], is_word, [False]]).astype(np.int8))
        w_start, w_end = np.flatnonzero(edge == 1), np.flatnonzero(edge == -1)
        w_hash = span_hash(w_start, w_end)
        w_doc = doc_of[w_start]
        parts = [(w_doc, _bucket(w_hash ^ _SALT_WORD, config.hash_bits))]
        if config.word_bigrams and len(w_hash) > 1:
            same = w_doc[1:] == w_doc[:-1]
            bh = (w_hash[:-1][same] * _BIGRAM_MUL + w_hash[1:][same]) ^ _SALT_BIGRAM
            parts.append((w_doc[1:][same], _bucket(bh, config.hash_bits)))
        nul_cum = np.concatenate([[0], np.cumsum(buf == 0)])
        for n in config.char_ngrams:
            if N < n:
                parts.append((np.zeros(0, np.int64), np.zeros(0, np.int32)))
                continue
            s = np.arange(N - n + 1)
            s = s[nul_cum[s + n] == nul_cum[s]]                       # n-grams that do not cross a doc boundary
            ch = span_hash(s, s + n) ^ (_SALT_CHAR + np.uint64(n))
            parts.append((doc_of[s], _bucket(ch, config.hash_bits)))
    mats = []
    for docs, idx in parts:
        counts = np.bincount(docs, minlength=B)
        indptr = np.concatenate([[0], np.cumsum(counts)])
        vals = (1.0 / np.sqrt(np.maximum(counts, 1))).astype(np.float32)[docs]  # ~unit L2 norm per type
        mats.append(sparse.csr_matrix((vals, idx, indptr), shape=(B, D)))
    return mats


class ScienceClassifier:
    """`fit(texts, labels)`; `predict(texts) -> (domains, subdomains, science_scores)`; `save(dir)` / `load(dir)`."""

    def __init__(self, config: ClassifierConfig | None = None, labels: tuple[str, ...] = LABELS):
        self.config = config or ClassifierConfig()
        self.labels = tuple(labels)
        if self.labels[0] != "none":
            raise ValueError(f"labels must start with 'none' (not science); got {self.labels[:3]}")
        K, D = len(self.labels), 1 << self.config.hash_bits
        self.W_DK = np.zeros((D, K), np.float32)
        self.b_K = np.zeros(K, np.float32)
        domains = [lab.split("/")[0] for lab in self.labels[1:]]
        self.domains = tuple(dict.fromkeys(domains))
        # label → domain one-hot, to sum sub-domain probabilities per domain
        self._dom_KM = np.zeros((K, len(self.domains)), np.float32)
        for k, d in enumerate(domains, start=1):
            self._dom_KM[k, self.domains.index(d)] = 1.0

    # --- inference -------------------------------------------------------------------------------------------
    def logits(self, texts: list[str]) -> np.ndarray:
        out_BK = np.tile(self.b_K, (len(texts), 1))
        for X in hashed_features(texts, self.config):
            out_BK += X @ self.W_DK
        return out_BK

    def predict_proba(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        parts = []
        for i in range(0, len(texts), batch_size):
            z = self.logits(texts[i:i + batch_size])
            z -= z.max(axis=1, keepdims=True)
            e = np.exp(z)
            parts.append(e / e.sum(axis=1, keepdims=True))
        return np.concatenate(parts) if parts else np.zeros((0, len(self.labels)), np.float32)

    def predict(self, texts: list[str], batch_size: int = 256) -> tuple[list[str], list[str], np.ndarray]:
        """(domain per text, sub-domain per text, science_score = 1 − p(none) per text)."""
        p_BK = self.predict_proba(list(texts), batch_size)
        if not len(p_BK):
            return [], [], np.zeros(0, np.float32)
        dom_BM = p_BK @ self._dom_KM
        best_dom = dom_BM.argmax(axis=1)
        masked = np.where(self._dom_KM[:, best_dom].T > 0, p_BK, -1.0)
        best_lab = masked.argmax(axis=1)
        domains = [self.domains[m] for m in best_dom]
        subs = [self.labels[k].split("/")[1] for k in best_lab]
        return domains, subs, (1.0 - p_BK[:, 0]).astype(np.float32)

    # --- training --------------------------------------------------------------------------------------------
    def fit(self, texts: list[str], labels: list[str]) -> "ScienceClassifier":
        """Minibatch Adagrad on softmax cross-entropy + L2; `labels` are entries of `self.labels`."""
        lab_index = {lab: k for k, lab in enumerate(self.labels)}
        unknown = sorted({lab for lab in labels if lab not in lab_index})
        if unknown:
            raise ValueError(f"unknown labels {unknown[:5]}; use 'none' or 'domain/subdomain' from taxonomy.LABELS")
        cfg = self.config
        y = np.array([lab_index[lab] for lab in labels], np.int64)
        feats = [hashed_features(list(texts[i:i + 1024]), cfg) for i in range(0, len(texts), 1024)]
        from scipy import sparse

        X = [sparse.vstack([f[t] for f in feats]).tocsr() for t in range(len(feats[0]))] if feats else []
        Xall = sum(X[1:], X[0]).tocsr() if X else None                   # sum of mean-pooled types
        K = len(self.labels)
        G_W = np.full(self.W_DK.shape, 1e-8, np.float32)
        G_b = np.full(K, 1e-8, np.float32)
        rng = np.random.default_rng(cfg.seed)
        touched = np.zeros(self.W_DK.shape[0], bool)
        pos = np.zeros(self.W_DK.shape[0], np.int32)
        for _ in range(cfg.epochs):
            order = rng.permutation(len(y))
            for i in range(0, len(order), cfg.batch_size):
                rows = order[i:i + cfg.batch_size]
                Xb = Xall[rows]
                z = Xb @ self.W_DK + self.b_K
                z -= z.max(axis=1, keepdims=True)
                p = np.exp(z)
                p /= p.sum(axis=1, keepdims=True)
                p[np.arange(len(rows)), y[rows]] -= 1.0                   # dL/dz = p − onehot
                p /= len(rows)
                touched[Xb.indices] = True                                # only touched buckets get an update
                cols = np.flatnonzero(touched)
                touched[cols] = False
                pos[cols] = np.arange(len(cols), dtype=np.int32)          # bucket -> column of the compact batch
                Xc = sparse.csr_matrix((Xb.data, pos[Xb.indices], Xb.indptr), shape=(len(rows), len(cols)))
                W_c = self.W_DK[cols]
                g = (Xc.T @ p).astype(np.float32) + cfg.l2 * W_c
                G_c = G_W[cols] + g * g
                G_W[cols] = G_c
                self.W_DK[cols] = W_c - cfg.learning_rate * g / np.sqrt(G_c)
                gb = p.sum(axis=0).astype(np.float32)
                G_b += gb * gb
                self.b_K -= cfg.learning_rate * gb / np.sqrt(G_b)
        return self

    # --- persistence -----------------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write `weights.npz` (W, b) and `classifier.json` (config, labels) into `directory`."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(d / "weights.npz", W_DK=self.W_DK, b_K=self.b_K)
        (d / "classifier.json").write_text(json.dumps({"config": self.config.model_dump(),
                                                       "labels": list(self.labels), "format": 1}, indent=1))
        return d

    @classmethod
    def load(cls, directory: str | Path) -> "ScienceClassifier":
        d = Path(directory)
        meta = json.loads((d / "classifier.json").read_text())
        model = cls(ClassifierConfig(**meta["config"]), tuple(meta["labels"]))
        with np.load(d / "weights.npz") as z:
            if z["W_DK"].shape != model.W_DK.shape:
                raise ValueError(f"weights {z['W_DK'].shape} do not match config/labels {model.W_DK.shape}")
            model.W_DK, model.b_K = z["W_DK"].astype(np.float32), z["b_K"].astype(np.float32)
        return model
