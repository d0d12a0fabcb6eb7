"""The TAIL paper's Table 2 ablations that remove one core module from the trace (memory fetch is `tail_no_fetch`).

- ``tail_no_linear`` (TAIL without linear transition): the execution is *not* expanded linearly. The trace keeps
  the first two atomic states and the last two, and the second state's control jumps over everything in between
  (``-> S{n-1}``): the middle of the loop is left for the model to do implicitly, which is the shortcut that linear
  transition exists to prevent. Traces of four states or fewer are unchanged.
- ``tail_no_atomic`` (TAIL without atomic states): several elementary operations per state. Every
  ``ATOMIC_GROUP`` consecutive atomic states become one state that fetches all their operands and performs all
  their operations. Addition has its own rendering (`Addition.solve`'s ``extra``): each state adds a chunk of
  ``ATOMIC_GROUP`` digit columns as multi-digit numbers (``fetch a[2:0]=123, b[2:0]=456, c=0 | 123+456+0=579;
  s[2:0]=579, c=0``), a genuinely non-atomic operation.

Both keep the memory fetch, the symbolic layout and the final answer, and are checked by the task's exact verifier
(the boxed answer) like every other style. `export_ablation` exports them while `s1data.bootcamp.base.STYLES` does
not list them (adding the two names there makes `export(..., style)` work directly: `TailTask.reference_solution`
already renders them).
"""

from __future__ import annotations

import json

import pyarrow as pa

from s1data.bootcamp.base import State, render_states

ABLATION_STYLES = ("tail_no_linear", "tail_no_atomic")
ATOMIC_GROUP = 3  # atomic states (addition: digit columns) per state in tail_no_atomic


def skip_middle(states: list[State]) -> list[tuple[int, State]]:
    """(original 1-based label, state) of the states kept by tail_no_linear: the first two and the last two, the
    second jumping to the last-but-one."""
    n = len(states)
    if n <= 4:
        return list(enumerate(states, start=1))
    second = State(states[1].fetch, states[1].op, next=f"S{n - 1}", nl=states[1].nl)
    return [(1, states[0]), (2, second), (n - 1, states[n - 2]), (n, states[n - 1])]


def render_no_linear(states: list[State]) -> str:
    """Symbolic TAIL lines of the kept states, with their original labels (so the jump is explicit)."""
    lines = []
    kept = skip_middle(states)
    n = len(states)
    for label, st in kept:
        nxt = st.next if st.next is not None else (f"S{label + 1}" if label < n else "HALT")
        fetch = "fetch " + (", ".join(f"{k}={v}" for k, v in st.fetch) if st.fetch else "-")
        lines.append(f"[S{label}] {fetch} | {st.op} | -> {nxt}")
    return "\n".join(lines)


def merge_states(states: list[State], group: int = ATOMIC_GROUP) -> list[State]:
    """Consecutive states in groups of `group`: one state fetching all their operands (repeats dropped) and doing
    all their operations; an explicit jump of the group's last state is kept."""
    out = []
    for i in range(0, len(states), group):
        chunk = states[i:i + group]
        fetch, seen = [], set()
        for st in chunk:
            for k, v in st.fetch:
                if (k, str(v)) not in seen:
                    seen.add((k, str(v)))
                    fetch.append((k, v))
        nxt = chunk[-1].next
        out.append(State(fetch, "; ".join(st.op for st in chunk), next=None if nxt is None else nxt))
    return out


def render(task, identity: dict, style: str) -> str:
    """The reference response of `task` (a TailTask) for `identity` in an ablation style (same frame as 'tail')."""
    if style not in ABLATION_STYLES:
        raise ValueError(f"{style!r} is not an ablation style; choose one of {ABLATION_STYLES}")
    sol = task.solve(identity)
    if style in sol.extra:
        body = sol.extra[style]
    elif style == "tail_no_linear":
        body = render_no_linear(sol.states)
    else:
        body = render_states(merge_states(sol.states))
    return f"<think>\n{body}\n</think>\nThe answer is \\boxed{{{sol.answer}}}."


def export_ablation(configs, n_per_config: int, seed: int, style: str) -> tuple[pa.Table, pa.Table, pa.Table]:
    """`export(configs, n_per_config, seed, style)` for an ablation style: the same problems, prompts and sample_ids
    as the 'tail' export, each response re-rendered in `style` and kept only when the task's exact verifier scores
    it 1 (else an exclusion row `bootcamp_reference_rejected`)."""
    from s1data.bootcamp import REGISTRY, export

    if style not in ABLATION_STYLES:
        raise ValueError(f"{style!r} is not an ablation style; choose one of {ABLATION_STYLES}")
    sft, rl, excl = export(configs, n_per_config, seed, "tail")
    rows, keep, bad = sft.to_pylist(), [], []
    for r in rows:
        task = REGISTRY[r["task"]]()
        identity = json.loads(r["identity_json"])
        try:
            response = render(task, identity, style)
            v = task.verify(response, identity)
        except Exception as exc:  # a solver crash on one case is a row, not a failed export
            bad.append({"sample_id": r["sample_id"], "task": r["task"], "config_id": r["config_id"],
                        "reason": "bootcamp_reference_rejected", "detail": f"{type(exc).__name__}: {exc}"[:300]})
            continue
        if v.score != 1.0:
            bad.append({"sample_id": r["sample_id"], "task": r["task"], "config_id": r["config_id"],
                        "reason": "bootcamp_reference_rejected", "detail": f"{v.reason} {v.detail}"[:300]})
            continue
        keep.append({**r, "response": response, "style": style})
    dropped = {b["sample_id"] for b in bad}
    if dropped:
        rl = rl.filter(pa.compute.invert(pa.compute.is_in(rl.column("sample_id"), pa.array(sorted(dropped)))))
    excl = pa.concat_tables([excl, pa.Table.from_pylist(bad, schema=excl.schema)]) if bad else excl
    return pa.Table.from_pylist(keep, schema=sft.schema), rl, excl
