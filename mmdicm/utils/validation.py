"""Argument checks that fail early with a message naming the argument."""

__all__ = ['check_int', 'check_drop_path', 'check_layer_scale']


def check_int(name: str, value: object, minimum: int = 1) -> None:
    """Raise ``ValueError`` unless ``value`` is an int (not a bool) ``>= minimum``.

    Args:
        name (str): The argument's name, as the user wrote it in a config.
        value (object): The value to check.
        minimum (int): Smallest accepted value. Defaults to 1.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f'{name} must be an int >= {minimum}, got {value!r}')


def check_drop_path(value: float) -> None:
    """Raise ``ValueError`` unless the stochastic-depth rate ``value`` is in [0, 1)."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f'drop_path must be in [0, 1), got {value}')


def check_layer_scale(value: object) -> None:
    """Raise ``ValueError`` for a negative ``layer_scale_init_value`` (None/0 disable it)."""
    if value is not None and value < 0:
        raise ValueError('layer_scale_init_value must be None, 0 (both disable layer '
                         f'scale) or > 0, got {value!r}')
