"""``mmdicm.utils.check_int``: the range, the optional maximum, and the exception class."""
import numpy as np
import pytest

from mmdicm.utils import check_int


def test_returns_a_python_int_within_the_range():
    assert check_int('n', 3) == 3
    assert check_int('n', 0, 0) == 0
    assert check_int('n', 6, 0, 6) == 6
    value = check_int('n', np.int64(5), 1, 8)
    assert value == 5 and type(value) is int


@pytest.mark.parametrize('value, minimum, maximum, match', [
    (0, 1, None, r'^n must be an int >= 1, got 0$'),
    (7, 0, 6, r'^n must be an int in \[0, 6\], got 7$'),
    (-1, 0, 6, r'^n must be an int in \[0, 6\], got -1$'),
    (2.0, 1, None, r'^n must be an int >= 1, got 2\.0$'),
    (True, 0, None, r'^n must be an int >= 0, got True$'),
])
def test_value_errors_name_the_argument_and_the_range(value, minimum, maximum, match):
    with pytest.raises(ValueError, match=match):
        check_int('n', value, minimum, maximum)


@pytest.mark.parametrize('value', [2.0, '2', None, True])
def test_strict_raises_type_error_for_a_non_integer(value):
    with pytest.raises(TypeError, match=rf'^n must be an int, got {type(value).__name__}$'):
        check_int('n', value, strict=True)
    with pytest.raises(ValueError, match='in \\[0, 6\\]'):  # a bad int is still a ValueError
        check_int('n', 9, 0, 6, strict=True)
