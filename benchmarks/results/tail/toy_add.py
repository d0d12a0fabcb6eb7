"""CPU toy behind the choice of Abacus direction (issue 21): addition with operands written most significant digit
first (as in the TAIL prompts) and the sum written least significant digit first (as McLeish et al.), trained on
operands of 1-8 digits, tested on two n-digit operands; and the copy toy (natural order) with the same options.

    python benchmarks/results/tail/toy_add.py STEPS add|copy|rev|dsum SPEC[,SPEC...]   (TOY_LAYERS=2: 2 layers; TOY_SEED=1: seed)

Tasks: add = a + b, sum least significant digit first; copy = a in its order; rev = a reversed (the reversed arm's
`reverse a:` step); dsum = digit-wise sum mod 10 of a and b (no carries), least significant first: the alignment
alone, without the carry chain.

SPEC = position:direction[:inject], e.g. rope:ltr, rope:rtl, rope:both, nope:rtl, rope:rtl:inject, rope:none (no
Abacus). direction: ltr = every digit indexed from its number's first digit (the first GPU runs); rtl = the prompt's
digits indexed from the right (index = significance + 1: aligned digits of the operands share an index), the response's
from the left; both = the two embeddings added. Model: TailDecoder D=64, 3 layers, 4 heads (2 KV), Abacus offsets
0-20 per document while training; 16 packed rows of 96 tokens per step, AdamW lr 3e-3, seed 0; one thread. Per test
length n (60 problems): exact answers (digits and end token) and the share of answer digits right at their index.
tests/s1model/test_tail_positions.py asserts the rev difference with the same model (its own data stream).
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

EQ, EOS, PAD, PLUS = 10, 11, 12, 13  # EQ ends the prompt (the Abacus separator)


def problem(rng: random.Random, task: str, la: int, lb: int) -> tuple[list[int], list[int]]:
    """(prompt ending with EQ, answer ending with EOS)."""
    a = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(la - 1)]
    if task == "copy":
        return a + [EQ], a + [EOS]
    if task == "rev":
        return a + [EQ], a[::-1] + [EOS]
    b = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(lb - 1)]
    if task == "dsum":  # digit-wise sum mod 10, no carries, least significant first (the shorter operand 0-padded)
        ra, rb = a[::-1], b[::-1]
        return a + [PLUS] + b + [EQ], [((ra[i] if i < la else 0) + (rb[i] if i < lb else 0)) % 10
                                       for i in range(max(la, lb))] + [EOS]
    s = int("".join(map(str, a))) + int("".join(map(str, b)))
    return a + [PLUS] + b + [EQ], [int(c) for c in str(s)[::-1]] + [EOS]


def batch(rng: random.Random, task: str, rows: int, seq: int, lo: int, hi: int):
    ids = torch.full((rows, seq), PAD)
    lens = []
    for r in range(rows):
        row, doc_lens = [], []
        while True:
            p, a = problem(rng, task, rng.randint(lo, hi), rng.randint(lo, hi))
            d = p + a
            if len(row) + len(d) > seq:
                break
            row += d
            doc_lens.append(len(d))
        if len(row) < seq:
            doc_lens.append(seq - len(row))
            row += [PAD] * (seq - len(row))
        ids[r] = torch.tensor(row)
        lens.append(doc_lens)
    pos, mask = packed_inputs(lens, seq)
    return ids, pos, mask


def config(position: str, direction: str, inject: bool = False, **kw) -> TailModelConfig:
    base = dict(vocab_size=14, hidden_size=64, num_layers=int(os.environ.get("TOY_LAYERS", 3)), num_heads=4, num_kv_heads=2, head_dim=16,
                intermediate_size=256, position=position, abacus=direction != "none",
                abacus_direction=direction if direction != "none" else "ltr", abacus_sep_id=EQ,
                digit_token_ids=list(range(10)), abacus_max=64, abacus_offset_max=20, input_injection=inject)
    return TailModelConfig(**{**base, **kw})


def train(task: str, position: str, direction: str, steps: int, inject: bool = False, seed: int = 0,
          max_len: int = 8, lr: float = 3e-3) -> tuple[TailDecoder, list[float]]:
    torch.manual_seed(seed)
    rng = random.Random(seed)
    m = TailDecoder(config(position, direction, inject))
    opt = torch.optim.AdamW(m.parameters(), lr=lr, weight_decay=0.0)
    losses = []
    for step in range(steps):
        for g in opt.param_groups:  # short warm-up, then flat: a toy
            g["lr"] = lr * min(1.0, (step + 1) / 50)
        ids, pos, mask = batch(rng, task, 16, 96, 1, max_len)
        loss = lm_loss(m(ids, pos).logits, ids, mask)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    return m, losses


def scores(m: TailDecoder, task: str, n: int, count: int = 60) -> tuple[float, float]:
    """(exact answers incl. the end token, share of answer digits right at their index) for two n-digit operands."""
    rng = random.Random(1000 + n)
    probs = [problem(rng, task, n, n) for _ in range(count)]
    comps = generate(m, [p for p, _ in probs], n + 3, EOS, PAD)
    exact = sum(c.token_ids[:len(a)] == a for c, (_, a) in zip(comps, probs)) / count
    digits = sum(x == y for c, (_, a) in zip(comps, probs) for x, y in zip(c.token_ids, a[:-1]))
    return exact, digits / sum(len(a) - 1 for _, a in probs)


if __name__ == "__main__":
    steps, task = int(sys.argv[1]), sys.argv[2]
    for spec in sys.argv[3].split(","):
        parts = spec.split(":")
        t0 = time.time()
        m, losses = train(task, parts[0], parts[1], steps, inject=len(parts) > 2 and parts[2] == "inject",
                          seed=int(os.environ.get("TOY_SEED", 0)))
        res = {n: tuple(round(v, 2) for v in scores(m, task, n)) for n in (6, 8, 12, 16)}
        print(task, spec, steps, f"loss {sum(losses[-20:]) / 20:.3f}", res, f"{time.time() - t0:.0f}s", flush=True)
