import pytest

from s1data.bootcamp import list_configs


@pytest.fixture(scope="session")
def all_configs():
    return list_configs()


def perturb(answer: str) -> str:
    """A wrong answer derived from a right one: swap a verdict, else bump the first digit, else change a letter."""
    swaps = {"yes": "no", "no": "yes", ">": "<", "<": ">", "=": ">", "none": "(0, 0)"}
    if answer in swaps:
        return swaps[answer]
    for i, ch in enumerate(answer):
        if ch.isdigit():
            return answer[:i] + str((int(ch) + 1) % 10) + answer[i + 1:]
    for i, ch in enumerate(answer):
        if ch.isalpha():
            return answer[:i] + ("c" if ch == "b" else "b") + answer[i + 1:]
    raise AssertionError(f"cannot perturb {answer!r}")
