"""Position schemes of the TAIL experiment's own decoder (s1model/tail_model.py): the helpers, the KV-cache engine
against a no-cache reference for every scheme, and a toy copy task where the schemes built for length extrapolation
copy strings longer than any seen in training and plain RoPE does not."""

import random

import pytest
import torch

from s1model.model import lm_loss, packed_inputs
from s1model.tail_model import (POSITIONS, TailDecoder, TailModelConfig, digit_run_index, digit_run_index_from_right,
                                generate, greedy_reference, in_prompt, random_positions)

EQ, EOS, PAD = 10, 11, 12  # toy vocabulary: digits 0-9, '=', end, padding


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # the CI box has 2 shared cores; tiny models are fastest single-threaded
    yield
    torch.set_num_threads(n)


def _cfg(position: str, abacus: bool = False, **kw) -> TailModelConfig:
    base = dict(vocab_size=13, hidden_size=64, num_layers=2, num_heads=4, num_kv_heads=2, head_dim=16,
                intermediate_size=256, position=position, abacus=abacus, digit_token_ids=list(range(10)),
                abacus_max=64, abacus_offset_max=20, random_gap_max=4)
    return TailModelConfig(**{**base, **kw})


def test_digit_run_index_counts_digits_inside_each_number_and_restarts_at_a_document_start():
    ids = torch.tensor([[10, 3, 4, 5, 10, 7, 1, 2, 10]])
    pos = torch.tensor([[0, 1, 2, 3, 4, 5, 0, 1, 2]])  # a second document starts at the 7th token ("1")
    is_digit = ids < 10
    assert digit_run_index(is_digit, pos).tolist() == [[0, 1, 2, 3, 0, 1, 1, 2, 0]]


def test_right_to_left_index_counts_from_the_last_digit_and_only_the_prompt_of_a_whole_document_gets_it():
    SEP = 10
    # doc 1: "3 4 5 + 7 1 SEP 2 8 + 1"; doc 2 starts at "2" and is a cut-off segment without the separator
    ids = torch.tensor([[3, 4, 5, 13, 7, 1, SEP, 2, 8, 13, 1, 2, 13, 4, 4]])
    pos = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 1, 2, 3]])
    is_digit = ids < 10
    assert digit_run_index_from_right(is_digit, pos).tolist() == [[3, 2, 1, 0, 2, 1, 0, 2, 1, 0, 1, 1, 0, 2, 1]]
    assert in_prompt(ids, pos, SEP).int().tolist() == [[1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]]
    m = TailDecoder(_cfg("rope", True, abacus_direction="rtl", abacus_sep_id=SEP, vocab_size=14))
    ltr, second = m.abacus_indices(ids, pos)
    # prompt digits by significance (aligned digits of 345 and 71 share 1 and 2), response and cut segment from the left
    assert ltr.tolist() == [[3, 2, 1, 0, 2, 1, 0, 1, 2, 0, 1, 1, 0, 1, 2]] and second is None
    m = TailDecoder(_cfg("rope", True, abacus_direction="both", abacus_sep_id=SEP, vocab_size=14))
    ltr, rtl = m.abacus_indices(ids, pos)
    assert ltr.tolist() == digit_run_index(is_digit, pos).tolist()
    assert rtl.tolist() == [[3, 2, 1, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]]


def test_right_to_left_abacus_needs_a_separator_in_the_config_and_in_every_prompt():
    with pytest.raises(ValueError, match="abacus_sep_id"):
        _cfg("rope", True, abacus_direction="rtl")
    with pytest.raises(ValueError, match="abacus_direction"):
        _cfg("rope", True, abacus_direction="up")
    m = TailDecoder(_cfg("rope", True, abacus_direction="rtl", abacus_sep_id=EQ))
    with pytest.raises(ValueError, match="separator"):
        generate(m, [[1, 2, EQ], [3, 4]], max_new_tokens=3, eos_id=EOS, pad_id=PAD)


def test_random_positions_increase_by_one_to_gap_max_and_restart_at_zero_per_document():
    pos = torch.tensor([list(range(50)) + list(range(30))])
    g = torch.Generator().manual_seed(0)
    r = random_positions(pos, 4, generator=g)
    assert r[0, 0] == 0 and r[0, 50] == 0
    steps = torch.cat([r[0, 1:50].diff(prepend=r[0, :1]), r[0, 51:].diff(prepend=r[0, 50:51])])
    assert steps.min() >= 1 and steps.max() <= 4 and len(set(steps.tolist())) > 1


def test_config_rejects_an_unknown_scheme_and_abacus_without_digit_ids():
    with pytest.raises(ValueError, match="position"):
        TailModelConfig(position="alibi")
    with pytest.raises(ValueError, match="digit_token_ids"):
        TailModelConfig(abacus=True)


@pytest.mark.parametrize("position,abacus,extra", [(p, False, {}) for p in POSITIONS] + [
    ("nope", True, {}), ("rope", True, {}), ("rope", True, {"abacus_direction": "rtl", "abacus_sep_id": EQ}),
    ("nope", True, {"abacus_direction": "both", "abacus_sep_id": EQ, "input_injection": True})])
def test_kv_cache_decoding_equals_a_full_forward_per_token_for_every_scheme(position, abacus, extra):
    torch.manual_seed(0)
    m = TailDecoder(_cfg(position, abacus, initializer_range=0.3, **extra)).eval()
    rng = random.Random(1)
    # unequal lengths (left padding); digit runs before and after the separator EQ
    prompts = [[rng.randint(0, 9) for _ in range(n)] + [EQ] + [rng.randint(0, 9) for _ in range(k)]
               for n, k in ((3, 0), (9, 2), (6, 1))]
    comps = generate(m, prompts, max_new_tokens=12, eos_id=EOS, pad_id=PAD, check_every=4)
    assert any(t < 10 for c in comps for t in c.token_ids)  # digits were generated (their indices are exercised)
    for p, c in zip(prompts, comps):
        ref = greedy_reference(m, p, 12, EOS)
        assert c.token_ids == ref, (position, abacus, extra)


def test_checkpoint_round_trip_keeps_the_scheme_and_the_logits(tmp_path):
    m = TailDecoder(_cfg("fire", abacus=True)).eval()
    ids = torch.tensor([[1, 2, 3, EQ, 1, 2]])
    m.save_pretrained(str(tmp_path))
    m2 = TailDecoder.from_pretrained(str(tmp_path)).eval()
    assert m2.config.position == "fire" and m2.config.abacus
    torch.testing.assert_close(m(ids).logits, m2(ids).logits)


# --- toy copy task ---------------------------------------------------------------------------------------------------

def _packed_batch(rows: int, seq: int, make_doc):
    """Packed rows of `make_doc()` documents, each row padded to `seq` with one trailing PAD document."""
    ids = torch.full((rows, seq), PAD)
    lens = []
    for b in range(rows):
        row, doc_lens = [], []
        while True:
            d = make_doc()
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


def _copy_batch(rng: random.Random, rows: int, seq: int, lo: int, hi: int):
    def doc():
        x = [rng.randint(0, 9) for _ in range(rng.randint(lo, hi))]
        return x + [EQ] + x + [EOS]

    return _packed_batch(rows, seq, doc)


def _train_copy(position: str, abacus: bool, steps: int, max_len: int = 8, seed: int = 0) -> tuple[TailDecoder, list]:
    torch.manual_seed(seed)
    rng = random.Random(seed)
    m = TailDecoder(_cfg(position, abacus))
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3, weight_decay=0.0)
    losses = []
    for _ in range(steps):
        ids, pos, mask = _copy_batch(rng, 16, 96, 1, max_len)
        loss = lm_loss(m(ids, pos).logits, ids, mask)
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    return m, losses


def _copy_scores(m: TailDecoder, n: int, count: int = 40) -> tuple[float, float]:
    """(exact copies incl. the end token, share of output digits equal to the source digit at that index)."""
    rng = random.Random(100 + n)
    xs = [[rng.randint(0, 9) for _ in range(n)] for _ in range(count)]
    comps = generate(m, [x + [EQ] for x in xs], n + 2, EOS, PAD)
    exact = sum(c.token_ids[:n + 1] == x + [EOS] for c, x in zip(comps, xs)) / count
    digits = sum(a == b for c, x in zip(comps, xs) for a, b in zip(c.token_ids[:n], x)) / (count * n)
    return exact, digits


@pytest.mark.parametrize("position,abacus", [("rope", False), ("nope", False), ("rope_random", False),
                                             ("fire", False), ("nope", True)])
def test_every_scheme_trains_on_the_copy_task(position, abacus):
    m, losses = _train_copy(position, abacus, steps=120)
    first, last = sum(losses[:5]) / 5, sum(losses[-10:]) / 10
    assert last < 0.75 * first, (position, abacus, first, last)


def test_nope_with_abacus_copies_strings_twice_as_long_as_trained_where_rope_fails():
    """Trained on strings of 1-8 digits. At 16 digits RoPE stops early or writes the wrong digits (measured: 9-10% of
    digits right, 0 exact); NoPE + Abacus writes the right digit at most indices (measured: 95% on an AMD host and in
    a plain process on an Intel one, 78% under pytest on that Intel host, 2026-12-06: the 800-step CPU trajectory
    depends on the host's float paths, so the bound is the effect, not one host's figure)."""
    rope, _ = _train_copy("rope", False, steps=800)
    abacus, _ = _train_copy("nope", True, steps=800)
    assert _copy_scores(rope, 6)[0] >= 0.7 and _copy_scores(abacus, 6)[0] >= 0.9  # both learned the trained range
    _, rope_digits = _copy_scores(rope, 16)
    _, abacus_digits = _copy_scores(abacus, 16)
    assert abacus_digits >= 0.7 and rope_digits <= 0.4 and abacus_digits - rope_digits >= 0.4


# --- toy reversal: the prompt's digits indexed from the right --------------------------------------------------------

def _rev_batch(rng: random.Random, rows: int, seq: int, hi: int):
    """Packed rows of `x = reversed(x)` documents (x of 1..hi digits, first digit non-zero)."""
    def doc():
        x = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(rng.randint(1, hi) - 1)]
        return x + [EQ] + x[::-1] + [EOS]

    return _packed_batch(rows, seq, doc)


def _train_rev(direction: str, steps: int = 800, seed: int = 0) -> TailDecoder:
    torch.manual_seed(seed)
    rng = random.Random(seed)
    m = TailDecoder(_cfg("rope", True, abacus_direction=direction, abacus_sep_id=EQ))
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3, weight_decay=0.0)
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = 3e-3 * min(1.0, (step + 1) / 50)
        ids, pos, mask = _rev_batch(rng, 16, 96, 8)
        loss = lm_loss(m(ids, pos).logits, ids, mask)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
    return m


def _rev_digits(m: TailDecoder, n: int, count: int = 40) -> float:
    """Share of output digits equal to the reversed source's digit at that index (strings of n digits)."""
    rng = random.Random(200 + n)
    xs = [[rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(n - 1)] for _ in range(count)]
    comps = generate(m, [x + [EQ] for x in xs], n + 2, EOS, PAD)
    return sum(a == b for c, x in zip(comps, xs) for a, b in zip(c.token_ids[:n], x[::-1])) / (count * n)


def test_right_to_left_abacus_reverses_longer_strings_than_trained_where_left_to_right_does_not():
    """Trained on 1-8 digits to write a number reversed (the reversed arm's `reverse a:` step). Indexed from the
    right, the output digit at index i and its source share an index; indexed from the left the source sits at
    length + 1 - i, which the model learned only for the trained lengths. Measured with this test's setup: digits
    right at 12 digits 0.90 (rtl) vs 0.32 (ltr), at 16 digits 0.69 vs 0.17; both 1.00 at 6 and 8 digits."""
    ltr, rtl = _train_rev("ltr"), _train_rev("rtl")
    assert _rev_digits(ltr, 6) >= 0.9 and _rev_digits(rtl, 6) >= 0.9  # both learned the trained range
    ltr12, rtl12 = _rev_digits(ltr, 12), _rev_digits(rtl, 12)
    assert rtl12 >= 0.7 and ltr12 <= 0.5 and rtl12 - ltr12 >= 0.3, (ltr12, rtl12)
