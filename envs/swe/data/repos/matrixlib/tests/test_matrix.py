from fractions import Fraction

import pytest
from matrixlib import Matrix, identity, zeros


def test_shape_and_indexing():
    m = Matrix([[1, 2, 3], [4, 5, 6]])
    assert m.shape == (2, 3)
    assert m[1, 2] == 6
    assert m.row(0) == [1, 2, 3]
    assert m.column(1) == [2, 5]


def test_rejects_ragged_rows():
    with pytest.raises(ValueError):
        Matrix([[1, 2], [3]])


def test_rejects_empty():
    with pytest.raises(ValueError):
        Matrix([])


def test_add_and_subtract():
    a = Matrix([[1, 2], [3, 4]])
    b = Matrix([[10, 20], [30, 40]])
    assert a + b == Matrix([[11, 22], [33, 44]])
    assert b - a == Matrix([[9, 18], [27, 36]])


def test_add_shape_mismatch():
    with pytest.raises(ValueError):
        Matrix([[1, 2]]) + Matrix([[1], [2]])


def test_scale():
    assert Matrix([[1, -2], [0, 3]]).scale(3) == Matrix([[3, -6], [0, 9]])


def test_matmul():
    a = Matrix([[1, 2], [3, 4]])
    b = Matrix([[5, 6], [7, 8]])
    assert a @ b == Matrix([[19, 22], [43, 50]])


def test_matmul_rectangular():
    a = Matrix([[1, 2, 3]])
    b = Matrix([[4], [5], [6]])
    assert a @ b == Matrix([[32]])
    assert (b @ a).shape == (3, 3)
    assert (b @ a)[2, 0] == 6


def test_matmul_shape_mismatch():
    with pytest.raises(ValueError):
        Matrix([[1, 2]]) @ Matrix([[1, 2]])


def test_transpose():
    assert Matrix([[1, 2, 3], [4, 5, 6]]).transpose() == Matrix([[1, 4], [2, 5], [3, 6]])


def test_trace():
    assert Matrix([[1, 2], [3, 4]]).trace() == 5
    with pytest.raises(ValueError):
        Matrix([[1, 2]]).trace()


def test_identity_and_zeros():
    assert identity(2) == Matrix([[1, 0], [0, 1]])
    assert zeros(2, 3) == Matrix([[0, 0, 0], [0, 0, 0]])


def test_determinant_2x2():
    assert Matrix([[1, 2], [3, 4]]).determinant() == -2
    assert Matrix([[4, 6], [3, 8]]).determinant() == 14


def test_determinant_3x3():
    assert Matrix([[6, 1, 1], [4, -2, 5], [2, 8, 7]]).determinant() == -306


def test_determinant_needs_row_swap():
    assert Matrix([[0, 1], [1, 0]]).determinant() == -1
    assert Matrix([[0, 2, 1], [1, 0, 0], [0, 0, 3]]).determinant() == -6


def test_determinant_singular():
    assert Matrix([[1, 2], [2, 4]]).determinant() == 0


def test_determinant_fraction():
    assert Matrix([[Fraction(1, 2), 0], [0, 3]]).determinant() == Fraction(3, 2)


def test_inverse():
    m = Matrix([[4, 7], [2, 6]])
    inv = m.inverse()
    assert inv == Matrix([[Fraction(3, 5), Fraction(-7, 10)], [Fraction(-1, 5), Fraction(2, 5)]])
    assert m @ inv == identity(2)


def test_inverse_with_pivoting():
    m = Matrix([[0, 1], [1, 0]])
    assert m.inverse() == m


def test_inverse_singular():
    with pytest.raises(ValueError):
        Matrix([[1, 2], [2, 4]]).inverse()


def test_power():
    m = Matrix([[1, 1], [1, 0]])
    assert m.power(0) == identity(2)
    assert m.power(1) == m
    assert m.power(5) == Matrix([[8, 5], [5, 3]])


def test_negative_power():
    m = Matrix([[2, 0], [0, 4]])
    assert m.power(-1) == Matrix([[Fraction(1, 2), 0], [0, Fraction(1, 4)]])
    assert m.power(-2) == Matrix([[Fraction(1, 4), 0], [0, Fraction(1, 16)]])
