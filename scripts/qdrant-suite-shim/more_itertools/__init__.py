"""Stand-in for more_itertools.batched (Debian bookworm's more_itertools 8.10 lacks it)."""
from itertools import islice


def batched(iterable, n):
    it = iter(iterable)
    while True:
        chunk = tuple(islice(it, n))
        if not chunk:
            return
        yield chunk
