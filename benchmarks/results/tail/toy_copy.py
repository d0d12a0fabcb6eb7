"""CPU toy behind the choice of position scheme (issue 21): copy a digit string, trained on 1-8 digits, tested longer.

    python benchmarks/results/tail/toy_copy.py STEPS rope:0,nope:0,rope_random:0,fire:0,rope:1,nope:1

Each spec is position:abacus(0/1). Model: TailDecoder D=64, 2 layers, 4 heads (2 KV), Abacus offsets 0-20, random gaps
1-4; 16 packed rows of 96 tokens per step, AdamW lr 3e-3, seed 0; one thread. Per test length n (50 strings): exact copies
(with the end token), share of outputs that end too early, share of digits equal to the source digit at that index.
The same setup as tests/s1model/test_tail_positions.py.
"""

import os
import random
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
torch.set_num_threads(1)

from s1model.model import lm_loss, packed_inputs  # noqa: E402
from s1model.tail_model import TailDecoder, TailModelConfig, generate  # noqa: E402

EQ, EOS, PAD = 10, 11, 12


def batch(rng, rows, seq, lo, hi):
    ids = torch.full((rows, seq), PAD)
    lens = []
    for b in range(rows):
        row, doc_lens = [], []
        while True:
            x = [rng.randint(0, 9) for _ in range(rng.randint(lo, hi))]
            d = x + [EQ] + x + [EOS]
            if len(row) + len(d) > seq:
                break
            row += d
            doc_lens.append(len(d))
        if len(row) < seq:
            doc_lens.append(seq - len(row))
            row += [PAD] * (seq - len(row))
        ids[b] = torch.tensor(row)
        lens.append(doc_lens)
    pos, mask = packed_inputs(lens, seq)
    return ids, pos, mask


def run(position, abacus, steps, test=(8, 12, 16, 24), seed=0):
    torch.manual_seed(seed)
    rng = random.Random(seed)
    cfg = TailModelConfig(vocab_size=13, hidden_size=64, num_layers=2, num_heads=4, num_kv_heads=2, head_dim=16,
                          intermediate_size=256, position=position, abacus=abacus, digit_token_ids=list(range(10)),
                          abacus_max=64, abacus_offset_max=20, random_gap_max=4)
    m = TailDecoder(cfg)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3, weight_decay=0.0)
    t0 = time.time()
    for _ in range(steps):
        ids, pos, mask = batch(rng, 16, 96, 1, 8)
        loss = lm_loss(m(ids, pos).logits, ids, mask)
        loss.backward()
        opt.step()
        opt.zero_grad()
    trng, res = random.Random(99), {}
    for n in test:
        xs = [[trng.randint(0, 9) for _ in range(n)] for _ in range(50)]
        comps = generate(m, [x + [EQ] for x in xs], n + 2, EOS, PAD)
        exact = sum(c.token_ids[:n + 1] == x + [EOS] for c, x in zip(comps, xs)) / 50
        early = sum(EOS in c.token_ids[:n] for c in comps) / 50
        digits = sum(a == b for c, x in zip(comps, xs) for a, b in zip(c.token_ids[:n], x)) / (50 * n)
        res[n] = (exact, round(early, 2), round(digits, 2))
    print(position, "abacus" if abacus else "", steps, f"loss {loss.item():.3f}", res, f"{time.time() - t0:.0f}s",
          flush=True)


if __name__ == "__main__":
    for spec in sys.argv[2].split(","):
        pos, ab = spec.split(":")
        run(pos, ab == "1", int(sys.argv[1]))
