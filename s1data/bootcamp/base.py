"""The task contract every bootcamp task implements (InternBootCamp-compatible), and the TAIL trace renderer.

A task class owns one problem family. It is constructed with its difficulty parameters and a seed, and offers:

- ``case_generator() -> identity``: a JSON-serialisable dict with everything needed to prompt and verify;
- ``prompt_func(identity) -> str``: one of >= 20 prompt templates (chosen at generation, stored in the identity);
- ``extract_output(text)``: the content of the last ``\\boxed{...}`` (after the last ``</think>`` when present);
- ``verify_score(model_output, identity, format_score=0.0, format_penalty=False) -> float``: 1.0 when correct,
  ``format_score`` when an answer was extracted but is wrong, 0.0 otherwise and on any exception;
- ``reference_solution(identity, style)``: a correct answer rendered with its chain of thought.

Subclasses implement four hooks: ``generate(rng)`` (problem data), ``statement(identity)`` (the question, numbers
wrapped in LaTeX), ``solve(identity) -> Solution`` (the answer and the unrolled TAIL states) and
``check(answer, identity) -> (ok, reason)``. The base class owns templates, extraction, scoring and rendering.

TAIL chain of thought (arXiv 2507.13332): the solving program's execution is unrolled into *atomic states* in a
*linear* order. Each state has a memory-fetch part (copy every operand the step needs from the input or an earlier
state), one elementary computation, and the logic control (which state comes next).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

STYLES = ("tail", "tail_nl", "tail_no_fetch", "direct", "reversed", "index_hints",
          "tail_no_linear", "tail_no_atomic")  # the last two: TAIL Table 2 ablations (TAIL tasks only)
"""Reference-solution renderings: TAIL symbolic, TAIL natural-language, TAIL without memory fetch (ablation),
answer only, and the two addition baselines of the TAIL paper (reversed digits; index hints)."""

BASE_STYLES = frozenset({"tail", "tail_nl", "tail_no_fetch", "direct"})

LENGTH_BUCKETS = ("S", "M", "L")


@dataclass
class Verdict:
    """A verifier's decision: the score and a stable snake_case reason (``bootcamp_correct`` when right)."""

    score: float
    reason: str
    detail: str = ""


@dataclass
class State:
    """One atomic TAIL state: operands copied from memory, one elementary operation, and where to go next."""

    fetch: list[tuple[str, Any]]
    op: str
    next: str | None = None  # None: the following state (or HALT for the last one)
    nl: str | None = None  # optional natural-language phrasing of ``op``


@dataclass
class Solution:
    """The verified answer (boxed text) and the unrolled execution that produced it."""

    answer: str
    states: list[State] = field(default_factory=list)
    # Optional alternative renderings of the whole trace for the addition baselines.
    extra: dict[str, str] = field(default_factory=dict)


class BaseParams(BaseModel):
    """Difficulty knobs of a task; subclasses add fields, each with a description and a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# 6 openings x 4 closings = 24 templates; the statement and the answer-format instruction are task-specific.
_OPENINGS = (
    "{statement}",
    "Solve the following problem.\n\n{statement}",
    "Here is a task for you.\n{statement}",
    "Problem: {statement}",
    "Work through this carefully, step by step.\n\n{statement}",
    "Consider the following question.\n{statement}",
)
_CLOSINGS = (
    "{instruction} Put the final answer in \\boxed{{}}.",
    "{instruction} Write your final answer as \\boxed{{answer}}.",
    "Think it through, then give the final answer inside \\boxed{{}}. {instruction}",
    "{instruction} End your reply with the answer in the form \\boxed{{...}}.",
)
TEMPLATES = tuple(f"{o}\n\n{c}" for o in _OPENINGS for c in _CLOSINGS)


def extract_boxed(text: str) -> str | None:
    """Return the content of the last ``\\boxed{...}`` (nested braces allowed), or None.

    When the text contains ``</think>``, only the part after the last ``</think>`` is searched: an answer boxed only
    inside the reasoning does not count. "Last" is the closed box that starts last; an unbalanced ``\\boxed{`` is
    skipped. One pass over the text with a stack of open braces (linear: a 56 KB output with thousands of unbalanced
    boxes took 71 s with the former rescan-per-box loop).
    """
    if not isinstance(text, str):
        return None
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    if "\\boxed{" not in text:
        return None
    opens = {m.end() - 1 for m in _BOXED.finditer(text)}  # index of each box's own "{"
    stack: list[int] = []
    best: tuple[int, int] | None = None  # (content start, content end) of the closed box starting last
    for m in _BRACE.finditer(text):
        i = m.start()
        if text[i] == "{":
            stack.append(i)
        elif stack:
            j = stack.pop()
            if j in opens and (best is None or j + 1 > best[0]):
                best = (j + 1, i)
    return None if best is None else text[best[0]:best[1]]


_BOXED = re.compile(r"\\boxed\{")
_BRACE = re.compile(r"[{}]")


_WRAPPERS = re.compile(r"^\\(?:text|textbf|mathrm|mathbf|operatorname)\{(.*)\}$", re.S)


def clean_answer(ans: str) -> str:
    """Strip LaTeX dressing around an answer: ``$``, ``\\text{...}``, ``\\,`` thin spaces, outer whitespace."""
    s = ans.strip().strip("$").strip()
    s = s.replace("\\,", "").replace("\\!", "").replace("\\ ", " ").replace("~", " ")
    for _ in range(3):
        m = _WRAPPERS.match(s)
        if not m:
            break
        s = m.group(1).strip()
    return s


def has_think_block(text: str) -> bool:
    """True when the output is ``<think>...</think>`` followed by a non-empty answer part."""
    if not isinstance(text, str):
        return False
    m = re.match(r"^\s*<think>(.*?)</think>(.*)$", text, re.S)
    return bool(m) and "<think>" not in m.group(1) and bool(m.group(2).strip())


def tex(x: Any) -> str:
    """Wrap a number (or short token) in inline LaTeX."""
    return f"${x}$"


def _nl_label(label: str) -> str:
    return f"step {label[1:]}" if re.fullmatch(r"S\d+", label) else label


def render_states(states: list[State], *, fetch: bool = True, natural: bool = False) -> str:
    """Render TAIL states: symbolic (``[S3] fetch a=1, b=2 | a+b=3 | -> S4``) or natural-language."""
    lines = []
    n = len(states)
    for k, st in enumerate(states, start=1):
        nxt = st.next if st.next is not None else (f"S{k + 1}" if k < n else "HALT")
        if natural:
            parts = [f"Step {k}."]
            if fetch and st.fetch:
                parts.append("Recall " + ", ".join(f"{name} = {val}" for name, val in st.fetch) + ".")
            parts.append((st.nl or f"Compute {st.op}") + ".")
            parts.append("Stop." if nxt == "HALT" else f"Next: {_nl_label(nxt)}.")
            lines.append(" ".join(parts))
        else:
            segs = []
            if fetch:
                segs.append("fetch " + (", ".join(f"{name}={val}" for name, val in st.fetch) if st.fetch else "-"))
            segs.append(st.op)
            segs.append(f"-> {nxt}")
            lines.append(f"[S{k}] " + " | ".join(segs))
    return "\n".join(lines)


class BaseTask:
    """One verifiable problem family; see the module docstring for the contract."""

    name: ClassVar[str] = ""
    domain: ClassVar[str] = ""
    algorithm_class: ClassVar[str | None] = None
    Params: ClassVar[type[BaseParams]] = BaseParams
    # knob -> allowed values; list_configs() enumerates the product (filtered by ``valid_params``).
    GRID: ClassVar[dict[str, list[Any]]] = {}
    supported_styles: ClassVar[frozenset[str]] = BASE_STYLES
    instruction: ClassVar[str] = ""

    def __init__(self, params: dict | BaseParams | None = None, seed: int = 0, **kwargs: Any):
        if isinstance(params, BaseParams):
            self.params = params
        else:
            self.params = self.Params(**{**(params or {}), **kwargs})
        self.seed = seed
        self.rng = random.Random(seed)

    # ---- hooks -----------------------------------------------------------------------------------------------
    def generate(self, rng: random.Random) -> dict:
        """Problem data for one case (JSON-serialisable)."""
        raise NotImplementedError

    def statement(self, identity: dict) -> str:
        """The question, with numbers wrapped in LaTeX."""
        raise NotImplementedError

    def solve(self, identity: dict) -> Solution:
        """Solve the case by running the algorithm, recording its TAIL states."""
        raise NotImplementedError

    def check(self, answer: str, identity: dict) -> tuple[bool, str]:
        """Decide whether a cleaned answer is correct: ``(True, "bootcamp_correct")`` or ``(False, reason)``."""
        raise NotImplementedError

    def length_bucket(self) -> str:
        """S, M or L for this configuration."""
        return "S"

    @classmethod
    def valid_params(cls, params: dict) -> bool:
        """Whether a GRID combination is a meaningful configuration (e.g. divisor shorter than dividend)."""
        return True

    # ---- InternBootCamp interface ----------------------------------------------------------------------------
    def case_generator(self) -> dict:
        """Draw one case from this instance's random stream."""
        identity = self.generate(self.rng)
        identity["task"] = self.name
        identity["params"] = self.params.model_dump()
        identity["template"] = self.rng.randrange(len(TEMPLATES))
        json.dumps(identity)  # fail loudly here, not in the exporter, if a task returns non-JSON data
        return identity

    def prompt_func(self, identity: dict) -> str:
        """Render the identity's prompt template."""
        tmpl = TEMPLATES[identity.get("template", 0) % len(TEMPLATES)]
        return tmpl.format(statement=self.statement(identity), instruction=self.answer_instruction(identity)).strip()

    def answer_instruction(self, identity: dict) -> str:
        """How the answer must be written (goes into every template)."""
        return self.instruction

    @staticmethod
    def extract_output(text: str) -> str | None:
        """The last ``\\boxed{...}`` content (see ``extract_boxed``)."""
        return extract_boxed(text)

    def verify(self, model_output: str, identity: dict, format_penalty: bool = False) -> Verdict:
        """Score with a reason; never raises."""
        try:
            if format_penalty and not has_think_block(model_output):
                return Verdict(0.0, "bootcamp_missing_think")
            raw = self.extract_output(model_output)
            if raw is None:
                return Verdict(0.0, "bootcamp_no_answer")
            ok, reason = self.check(clean_answer(raw), identity)
            return Verdict(1.0 if ok else 0.0, reason, raw[:200])
        except Exception as exc:  # a verifier must never crash a reward loop
            return Verdict(0.0, "bootcamp_verifier_error", f"{type(exc).__name__}: {exc}"[:200])

    def verify_score(
        self, model_output: str, identity: dict, format_score: float = 0.0, format_penalty: bool = False
    ) -> float:
        """1.0 if correct; ``format_score`` if an answer was extracted but is wrong; 0.0 otherwise.

        ``format_penalty=True`` scores 0 unless the output is ``<think>...</think>`` followed by the answer.
        """
        v = self.verify(model_output, identity, format_penalty=format_penalty)
        if v.score == 1.0:
            return 1.0
        if v.reason in ("bootcamp_no_answer", "bootcamp_missing_think", "bootcamp_verifier_error"):
            return 0.0
        return float(format_score)

    def reference_solution(self, identity: dict, style: str = "tail") -> str:
        """A correct answer with its chain of thought in the requested style (see ``STYLES``)."""
        if style not in self.supported_styles:
            raise ValueError(
                f"task {self.name!r} has no {style!r} rendering; use one of {sorted(self.supported_styles)}"
            )
        sol = self.solve(identity)
        boxed = f"\\boxed{{{sol.answer}}}"
        if style == "direct":
            return boxed
        if style in sol.extra:
            body = sol.extra[style]
        else:
            body = render_states(sol.states, fetch=style != "tail_no_fetch", natural=style == "tail_nl")
        return f"<think>\n{body}\n</think>\nThe answer is {boxed}."


# ---- small shared helpers for answers --------------------------------------------------------------------------
def split_list(answer: str) -> list[str]:
    """Split a comma/semicolon separated answer, dropping surrounding brackets and empty items."""
    s = answer.strip()
    if s[:1] in "[(" and s[-1:] in "])" and s.count("[") + s.count("(") == 1:
        s = s[1:-1]
    return [t.strip() for t in re.split(r"[,;]", s) if t.strip()]


def parse_int(tok: str) -> int:
    """Parse an integer, tolerating thousands separators written as ``{,}`` or thin spaces."""
    t = tok.replace("{,}", "").replace(" ", "").replace("\\,", "")
    if not re.fullmatch(r"[+-]?\d+", t):
        raise ValueError(f"not an integer: {tok!r}")
    return int(t)


def parse_float(tok: str) -> float:
    """Parse a decimal number; allows a leading ``~``/``≈`` and trailing unit words."""
    tok = re.sub(r"\s*(?:\\times|\\cdot|x)\s*10\^\{?([+-]?\d+)\}?", r"e\1", tok.replace("{,}", ""))
    m = re.match(r"^\s*(?:\\approx|≈|~)?\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)", tok)
    if not m:
        raise ValueError(f"not a number: {tok!r}")
    return float(m.group(1))


def close(a: float, b: float, rel: float, abs_: float = 0.0) -> bool:
    """Tolerance check: |a-b| <= max(rel*|b|, abs_)."""
    return abs(a - b) <= max(rel * abs(b), abs_)


def int_verdict(answer: str, expected: int) -> tuple[bool, str]:
    try:
        got = parse_int(answer)
    except ValueError:
        return False, "bootcamp_unparseable_answer"
    return (True, "bootcamp_correct") if got == expected else (False, "bootcamp_wrong_answer")


def yes_no(answer: str) -> bool | None:
    a = answer.strip().lower().rstrip(".")
    if a in ("yes", "true", "valid", "y"):
        return True
    if a in ("no", "false", "invalid", "n"):
        return False
    return None
