"""Argument checks that fail early with a message naming the argument."""
import numbers
from typing import Optional

__all__ = ['check_int', 'check_drop_path', 'check_layer_scale']


def check_int(name: str, value: object, minimum: int = 1, maximum: Optional[int] = None, *,
              strict: bool = False) -> int:
    """``value`` as an int if it is an integer (not a bool) in ``[minimum, maximum]``.

    Any integer type passes (numpy's too). Anything else raises ``ValueError`` naming the
    argument and the accepted range; with ``strict=True`` a value that is not an integer
    at all (a float, a str) raises ``TypeError`` instead, the Python convention (the
    default keeps one exception class for the config values of models and codecs).

    Args:
        name (str): The argument's name, as the user wrote it in a config.
        value (object): The value to check.
        minimum (int): Smallest accepted value. Defaults to 1.
        maximum (int, optional): Largest accepted value. Defaults to None (no bound).
        strict (bool): ``TypeError`` for a non-integer. Defaults to False.

    Returns:
        int: ``value`` as a Python int.
    """
    span = f'>= {minimum}' if maximum is None else f'in [{minimum}, {maximum}]'
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if strict:
            raise TypeError(f'{name} must be an int, got {type(value).__name__}')
        raise ValueError(f'{name} must be an int {span}, got {value!r}')
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f'{name} must be an int {span}, got {value!r}')
    return int(value)


def check_drop_path(value: float) -> None:
    """Raise ``ValueError`` unless the stochastic-depth rate ``value`` is in [0, 1)."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f'drop_path must be in [0, 1), got {value}')


def check_layer_scale(value: object) -> None:
    """Raise ``ValueError`` for a negative ``layer_scale_init_value`` (None/0 disable it)."""
    if value is not None and value < 0:
        raise ValueError('layer_scale_init_value must be None, 0 (both disable layer '
                         f'scale) or > 0, got {value!r}')
