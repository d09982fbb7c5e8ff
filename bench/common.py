"""Timing shared by the benchmarks: medians from torch.utils.benchmark, in the same run."""

from torch.utils import benchmark


def median_seconds(function, min_run_time: float) -> float:
    """Median seconds per call of ``function`` (no arguments), measured for ``min_run_time``."""
    timer = benchmark.Timer(stmt="function()", globals={"function": function})
    return timer.blocked_autorange(min_run_time=min_run_time).median
