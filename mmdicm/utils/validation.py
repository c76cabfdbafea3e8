"""Argument checks that fail early with a message naming the argument."""

__all__ = ['check_int']


def check_int(name: str, value: object, minimum: int = 1) -> None:
    """Raise ``ValueError`` unless ``value`` is an int (not a bool) ``>= minimum``.

    Args:
        name (str): The argument's name, as the user wrote it in a config.
        value (object): The value to check.
        minimum (int): Smallest accepted value. Defaults to 1.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f'{name} must be an int >= {minimum}, got {value!r}')
