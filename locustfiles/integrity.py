"""Output integrity: whether an answer's tokens are the ones its request must produce.

A deployment declares `request.integrity: deterministic` when its engine's output is a known
function of the request: token i is the word `tok<i>`, words separated by whitespace (the
embedded engine, `deployments.sim.engine`, and Dynamo's mocker replaying the suite's trace,
`deployments/dynamo/tiny_model.py`). A 200 answer whose pieces skip, repeat or restart that
sequence is then `corrupt_output`: a silent corruption that process health and status codes
never show (a stream migrated to another worker that replays from the start, say).
"""

import re
from dataclasses import dataclass

__all__ = ["INTEGRITY_CHECKS", "IntegrityProblem", "deterministic_problem"]

_TOKEN = re.compile(r"tok(\d+)")


@dataclass(frozen=True)
class IntegrityProblem:
    """What is wrong with an answer; `restarted` when its tokens began again at the first
    one, which only a stream moved to another worker that replayed it does: a migration, even
    where the deployment reports none."""

    message: str
    restarted: bool = False


def deterministic_problem(contents: list[str]) -> IntegrityProblem | None:
    """What is wrong with a stream of `tok<i>` words, or None when it is tok0, tok1, ..."""
    text = "".join(contents)
    for position, word in enumerate(text.split()):
        match = _TOKEN.fullmatch(word)
        if match is None:
            return IntegrityProblem(f"output holds text that is not the engine's tokens: {text[:80]!r}")
        index = int(match.group(1))
        if index == position:
            continue
        if index == 0:
            return IntegrityProblem(f"the output restarted at token {position}: tok0 again after tok{position - 1}", restarted=True)
        if index < position:
            return IntegrityProblem(f"token {index} repeated at position {position}")
        return IntegrityProblem(f"tokens {position} to {index - 1} missing")
    return None


#: The checks a deployment may name in `request.integrity`.
INTEGRITY_CHECKS = {"deterministic": deterministic_problem}
