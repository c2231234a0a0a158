"""How far a median of paired ratios can be trusted, for bench/run.py and bench/ab.py.

Each pair's ratio carries the spread between processes doing the same work (on this machine
two bare runs of fib differ by about 4% from one to the next, and two halves of one run
agree far better than two runs do), so a median of 15 pairs is uncertain by a point or more.
The interval below assumes nothing about the ratios' distribution, only that pairs are
independent: it is the pair of order statistics that the median lies between with at least
95% probability.
"""
import math


def median_interval(values, confidence=0.95):
    """(low, high) holding the true median with at least `confidence`, or None for fewer than
    six values (five cannot reach 95%)."""
    xs = sorted(values)
    n = len(xs)
    tail = (1.0 - confidence) / 2
    # k: how many values to set aside at each end; P(Binomial(n, 1/2) < k + 1) <= tail.
    k, below = 0, 0.0
    while True:
        below += math.comb(n, k) / 2.0 ** n
        if below > tail:
            break
        k += 1
    if k == 0:
        return None
    return xs[k - 1], xs[n - k]
