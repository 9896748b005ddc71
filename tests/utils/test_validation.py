import numpy as np
import pytest

from skfisher.utils._validation import (
    Integers,
    InvalidParameterError,
    Reals,
    check_param,
    validate_params,
)


@pytest.mark.parametrize("value", [True, False, np.bool_(True)])
def test_counts_and_rates_refuse_bools(value):
    assert not Integers(0).is_satisfied_by(value)
    assert not Reals(0, 1).is_satisfied_by(value)


def test_integer_bounds():
    assert [Integers(1).is_satisfied_by(v) for v in (0, 1, np.int64(7), 2.0)] == [
        False,
        True,
        True,
        False,
    ]
    assert [Integers(0, 3).is_satisfied_by(v) for v in (-1, 0, 3, 4)] == [False, True, True, False]
    assert [Integers(0, 3, closed="left").is_satisfied_by(v) for v in (0, 3)] == [True, False]


def test_real_bounds():
    assert [Reals(0, 1, closed="neither").is_satisfied_by(v) for v in (0, 0.5, 1)] == [
        False,
        True,
        False,
    ]
    assert not Reals(0).is_satisfied_by(float("nan"))
    assert not Reals(0).is_satisfied_by(float("inf"))  # no right bound: finite values


def test_check_param_names_the_argument_and_the_caller():
    assert check_param("n", 3, [Integers(1)], caller="f") == 3
    with pytest.raises(InvalidParameterError, match=r"The 'n' parameter of f must be an int"):
        check_param("n", True, [Integers(1)], caller="f")
    with pytest.raises(ValueError, match="Got 0 instead"):
        check_param("n", 0, [Integers(1), None], caller="f")


def test_declared_constraints_refuse_bools_in_functions():
    @validate_params({"k": [Integers(1)]}, prefer_skip_nested_validation=True)
    def f(k):
        return k

    assert f(2) == 2
    with pytest.raises(InvalidParameterError, match="'k' parameter of .*f must be an int"):
        f(True)
