"""The one progress-bar helper of locmap (tqdm), used by every long loop."""
from __future__ import annotations

from typing import Iterable, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T], enabled: bool, desc: str, total: int | None = None,
             unit: str = "it") -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm bar when ``enabled`` and there is more than one step.

    Parameters
    ----------
    iterable : iterable
        The loop.
    enabled : bool
        ``Settings.progress`` (or a router's ``progress`` flag); ``False`` returns ``iterable``.
    desc : str
        Text shown before the bar.
    total : int, optional
        Number of steps (default ``len(iterable)`` when it has one).
    unit : str
        Unit shown by tqdm.
    """
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    if not enabled or (total is not None and total <= 1):
        return iterable
    return tqdm(iterable, desc=desc, total=total, unit=unit, leave=False)


__all__ = ["progress"]
