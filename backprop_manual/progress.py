"""Progress bars for long work: drawn on a terminal, absent in a pipe or a CI log.

tqdm's disable=None turns the bar off when its stream (stderr) is not a TTY; stdout keeps only the results.
"""

from tqdm import tqdm


def bar(total: int, desc: str, unit: str) -> tqdm:
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, disable=None, leave=False, dynamic_ncols=True)
