"""Output integrity: whether an answer's tokens are the ones its request must produce.

A deployment declares `request.integrity: deterministic` when its engine's output is a known
function of the request: token i is `tok<i> ` (the embedded engine, `deployments.sim.engine`).
A 200 answer whose pieces skip, repeat or restart that sequence is then `corrupt_output`: a
silent corruption that process health and status codes never show (a stream migrated to
another worker that replays from the start, say).
"""

import re

__all__ = ["INTEGRITY_CHECKS", "deterministic_problem"]

_TOKEN = re.compile(r"tok(\d+) ")


def deterministic_problem(contents: list[str]) -> str | None:
    """What is wrong with a stream of `tok<i> ` pieces, or None when it is tok0, tok1, ..."""
    tokens = [m for piece in contents for m in _TOKEN.finditer(piece)]
    text = "".join(contents)
    if "".join(m.group() for m in tokens) != text:
        return f"output holds text that is not the engine's tokens: {text[:80]!r}"
    for position, match in enumerate(tokens):
        index = int(match.group(1))
        if index == position:
            continue
        if index == 0:
            return f"the output restarted at token {position}: tok0 again after tok{position - 1}"
        if index < position:
            return f"token {index} repeated at position {position}"
        return f"tokens {position} to {index - 1} missing"
    return None


#: The checks a deployment may name in `request.integrity`.
INTEGRITY_CHECKS = {"deterministic": deterministic_problem}
