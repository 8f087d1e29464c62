"""Random short programs that mix in-place ops, views and out-of-place ops on a (3, 4)
tensor, run with gpugrad and with torch: the same gradients, or both refuse."""

import random

import pytest
from inplace_programs import assert_same_as_torch

SEEDS = range(300)

# Statements over h (a non-leaf), v (a view, once taken), m and w... (leaves), acc (a sum
# of what was consumed so far).  {c}: a constant, {i}: a row, {j}: a column.
OUT_OF_PLACE = [
    "h = h * {c}",
    "h = h + m",
    "h = h * m",
    "h = (h * {c}).tanh()",
    "h = h.exp() * {c}",
]
IN_PLACE = [
    "h *= {c}",
    "h += m",
    "h *= m",
    "h -= m * {c}",
    "h[{i}] *= {c}",
    "h[{i}] += m[{i}]",
    "h[:, {j}] = m[:, {j}] * {c}",
    "h[{i}, {j}] = {c}",
    "h.clip_(-1.0, {c})",
]
VIEWS = ["v = h[{i}]", "v = h[:, {j}]", "v = h.T", "v = h.reshape(12)", "v = h[1:]"]
ON_VIEW = ["v *= {c}", "v += 1.0", "v.zero_()", "v -= v * {c}"]
CONSUME = ["acc = acc + (h * {c}).sum()", "acc = acc + (h * m).sum()", "acc = acc + v.sum()"]


def random_program(seed: int) -> str:
    rng = random.Random(seed)
    lines = ["h = m * 1.0", "acc = (m * 0.0).sum()"]
    has_view = False
    for _ in range(rng.randint(3, 7)):
        pool = OUT_OF_PLACE + IN_PLACE + VIEWS + CONSUME[:2]
        if has_view:
            pool = pool + ON_VIEW + CONSUME[2:]
        line = rng.choice(pool).format(
            c=rng.choice([0.5, -2.0, 3.0]), i=rng.randrange(3), j=rng.randrange(4)
        )
        has_view = has_view or line.startswith("v =")
        if line.startswith("h ="):  # a new h: the old view belongs to the old h
            has_view = False
        lines.append(line)
    tail = " + v.sum()" if has_view else ""
    lines.append(f"(acc + (h * m).sum(){tail}).backward()")
    return "; ".join(lines)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_program_matches_torch(seed):
    assert_same_as_torch(random_program(seed))
