"""What a value holds in memory, as %whos's Size column tells it (state.py's listing).

Runs inside the marimo kernel (see __init__.py); imports nothing of the package.
"""


def size(v, limit=200_000):
    """(bytes, complete): what `v` holds in memory, as well as is cheap to tell.

    Arrays say (`nbytes`), pandas objects count deeply; containers are walked (each object once)
    up to `limit` objects, then the figure is a lower bound.
    """
    import sys
    n = getattr(v, "nbytes", None)
    if isinstance(n, int) and not isinstance(v, (bytes, bytearray)):
        return n, True
    mu = getattr(v, "memory_usage", None)
    if callable(mu) and type(v).__name__ in ("DataFrame", "Series"):
        try:
            n = mu(deep=True)
            return (int(n.sum()) if hasattr(n, "sum") else int(n)), True
        except Exception:
            pass
    seen, todo, total = set(), [v], 0
    while todo:
        if len(seen) >= limit:
            return total, False
        o = todo.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        try:
            total += sys.getsizeof(o)
        except Exception:
            continue
        if isinstance(o, dict):
            todo.extend(o.keys())
            todo.extend(o.values())
        elif isinstance(o, (list, tuple, set, frozenset)):
            todo.extend(o)
    return total, True


def human(n):
    """Bytes as %whos shows them: 512 B, 1.5 KB, 2.0 MB."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0
    return str(n)
