"""A tqdm progress bar for management commands (on stderr, so reports on stdout stay clean)."""
import sys

from tqdm import tqdm


def progress_bar(description: str, *, enabled: bool = True):
    def wrap(items):
        items = list(items)
        return tqdm(items, desc=description, unit="img", file=sys.stderr, disable=not enabled or not items, dynamic_ncols=True)

    return wrap
