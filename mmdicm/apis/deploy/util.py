"""What the edge's and the receiver's per-file loops share: a progress bar and one-line
error texts (one bad file is reported, never raised)."""
from __future__ import annotations

import sys
from typing import Any, Iterator, Sequence

__all__ = ['error_text', 'progress_bar']


def progress_bar(items: Sequence[Any], desc: str, enabled: bool) -> Iterator[Any]:
    """``items`` with a tqdm bar on stderr (none if not ``enabled``)."""
    from tqdm import tqdm
    return iter(tqdm(items, desc=desc, unit='img', disable=not enabled, file=sys.stderr,
                     dynamic_ncols=True))


def error_text(e: BaseException) -> str:
    """``'<exception type>: <first line of its message>'``."""
    text = str(e).strip().splitlines()
    return f'{type(e).__name__}: {text[0] if text else ""}'.rstrip(': ')
