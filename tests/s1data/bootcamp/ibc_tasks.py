"""InternBootCamp-shaped task classes written here for the tests (the real library installs only from git, which
this machine cannot reach). They follow its interface exactly: a ``Basebootcamp`` with keyword constructors, an
instance ``case_generator`` drawing from the global ``random``, static ``prompt_func`` / ``extract_output``, a
classmethod ``_verify_correction`` and InternBootCamp's classmethod ``verify_score`` (short and format penalties on
by default). None of them imports s1."""

import random
import re
import time


class Basebootcamp:
    """The shape of internbootcamp.bootcamp.base.Basebootcamp."""

    def case_generator(self) -> dict:
        raise NotImplementedError

    @staticmethod
    def prompt_func(identity) -> str:
        raise NotImplementedError

    @staticmethod
    def extract_output(output):
        matches = re.findall(r"\\boxed\{([^{}]*)\}", output)
        return matches[-1] if matches else None

    @classmethod
    def _verify_correction(cls, solution, identity) -> bool:
        raise NotImplementedError

    @classmethod
    def verify_score(cls, model_output, identity, format_score=0, short_penalty=True, short_threshold=100,
                     format_penalty=True) -> float:
        score = 0.0
        if short_penalty and len(model_output) < short_threshold:
            return score
        if format_penalty and ("<think>" not in model_output or "</think>" not in model_output):
            return score
        try:
            solution = cls.extract_output(model_output)
            if solution is None:
                return score
            score = format_score
            result = cls._verify_correction(solution, identity)
            if isinstance(result, bool):
                score = 1.0 if result else score
            else:
                score = float(result)  # partial credit
        except Exception:
            pass
        return score


WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]


class WordSetbootcamp(Basebootcamp):
    """Partial credit: name the k hidden words; score = Jaccard overlap of the answer with them."""

    def __init__(self, k: int = 4, vocabulary: int = 8):
        self.k, self.vocabulary = k, vocabulary

    def case_generator(self):
        return {"words": sorted(random.sample(WORDS[:self.vocabulary], self.k))}

    @staticmethod
    def prompt_func(identity):
        return (f"Which {len(identity['words'])} Greek letter names spell the hidden set "
                f"{'-'.join(w[0] for w in identity['words'])}? Answer in \\boxed{{}} separated by commas.")

    @classmethod
    def _verify_correction(cls, solution, identity):
        got = {w.strip() for w in solution.split(",") if w.strip()}
        want = set(identity["words"])
        return len(got & want) / len(got | want)

    @staticmethod
    def reference_solution(identity):
        return "<think>" + "x" * 100 + "</think> \\boxed{" + ", ".join(identity["words"]) + "}"


class Raisingbootcamp(Basebootcamp):
    """Its verify_score raises (a buggy plugin)."""

    def __init__(self, n: int = 3):
        self.n = n

    def case_generator(self):
        return {"n": self.n, "x": random.randint(0, 99)}

    @staticmethod
    def prompt_func(identity):
        return f"Repeat {identity['x']} {identity['n']} times in \\boxed{{}}."

    @classmethod
    def verify_score(cls, model_output, identity, format_score=0, short_penalty=True, short_threshold=100,
                     format_penalty=True):
        raise ValueError("this verifier is broken")


class Slowbootcamp(Basebootcamp):
    """Its verifier spins on the CPU for `identity['spin_s']` seconds (default: far past any time limit)."""

    def __init__(self, spin_s: float = 600.0):
        self.spin_s = spin_s

    def case_generator(self):
        return {"spin_s": self.spin_s, "x": random.randint(0, 9)}

    @staticmethod
    def prompt_func(identity):
        return f"What is {identity['x']} + 0? Put it in \\boxed{{}}."

    @classmethod
    def _verify_correction(cls, solution, identity):
        end = time.monotonic() + identity["spin_s"]
        while time.monotonic() < end:  # a CPU loop: no signal or thread can stop it, only killing the process
            pass
        return solution.strip() == str(identity["x"])
