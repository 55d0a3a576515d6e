import math

import pytest
from geometry import Polygon, Vec, distance, segments_intersect

SQUARE = Polygon([(0, 0), (4, 0), (4, 4), (0, 4)])


def test_vector_arithmetic():
    assert Vec(1, 2) + Vec(3, 4) == Vec(4, 6)
    assert Vec(1, 2) - Vec(3, 5) == Vec(-2, -3)
    assert Vec(1, -2) * 3 == Vec(3, -6)
    assert -Vec(1, -2) == Vec(-1, 2)


def test_dot_and_cross():
    assert Vec(1, 2).dot(Vec(3, 4)) == 11
    assert Vec(1, 0).cross(Vec(0, 1)) == 1
    assert Vec(0, 1).cross(Vec(1, 0)) == -1


def test_length_and_distance():
    assert Vec(3, 4).length() == 5
    assert distance(Vec(1, 1), Vec(4, 5)) == 5


def test_normalized():
    v = Vec(0, 5).normalized()
    assert v == Vec(0, 1)
    with pytest.raises(ValueError):
        Vec(0, 0).normalized()


def test_rotate90():
    assert Vec(1, 0).rotate90() == Vec(0, 1)
    assert Vec(2, 3).rotate90() == Vec(-3, 2)


def test_segments_cross():
    assert segments_intersect(Vec(0, 0), Vec(4, 4), Vec(0, 4), Vec(4, 0))


def test_segments_apart():
    assert not segments_intersect(Vec(0, 0), Vec(1, 1), Vec(2, 2), Vec(3, 1))
    assert not segments_intersect(Vec(0, 0), Vec(4, 0), Vec(0, 1), Vec(4, 1))


def test_segments_touching_and_collinear():
    assert segments_intersect(Vec(0, 0), Vec(2, 0), Vec(2, 0), Vec(3, 5))
    assert segments_intersect(Vec(0, 0), Vec(4, 0), Vec(2, 0), Vec(6, 0))
    assert not segments_intersect(Vec(0, 0), Vec(1, 0), Vec(2, 0), Vec(3, 0))


def test_polygon_needs_three_points():
    with pytest.raises(ValueError):
        Polygon([(0, 0), (1, 1)])


def test_area():
    assert SQUARE.area() == 16
    assert Polygon([(0, 0), (4, 0), (0, 3)]).area() == 6


def test_signed_area_orientation():
    assert SQUARE.signed_area() == 16
    assert Polygon(list(reversed(SQUARE.points))).signed_area() == -16
    assert SQUARE.is_counter_clockwise()


def test_perimeter():
    assert SQUARE.perimeter() == 16
    assert Polygon([(0, 0), (3, 0), (0, 4)]).perimeter() == 12


def test_centroid():
    assert SQUARE.centroid() == Vec(2, 2)
    c = Polygon([(0, 0), (6, 0), (0, 3)]).centroid()
    assert (c.x, c.y) == (2, 1)


def test_centroid_degenerate():
    with pytest.raises(ValueError):
        Polygon([(0, 0), (1, 1), (2, 2)]).centroid()


def test_bounding_box():
    assert Polygon([(1, 5), (-2, 3), (4, -1)]).bounding_box() == (-2, -1, 4, 5)


def test_contains_inside_and_outside():
    assert SQUARE.contains((2, 2))
    assert SQUARE.contains(Vec(0.5, 3.5))
    assert not SQUARE.contains((5, 2))
    assert not SQUARE.contains((2, -1))


def test_contains_boundary():
    assert SQUARE.contains((0, 2))
    assert SQUARE.contains((4, 4))
    assert SQUARE.contains((2, 0))


def test_contains_concave():
    shape = Polygon([(0, 0), (6, 0), (6, 6), (3, 2), (0, 6)])
    assert shape.contains((1, 1))
    assert not shape.contains((3, 5))
    assert shape.contains((5.5, 5))


def test_is_convex():
    assert SQUARE.is_convex()
    assert not Polygon([(0, 0), (6, 0), (6, 6), (3, 2), (0, 6)]).is_convex()
    assert Polygon([(0, 0), (2, 0), (4, 0), (2, 3)]).is_convex()


def test_float_polygon_area():
    hexagon = Polygon([(math.cos(k * math.pi / 3), math.sin(k * math.pi / 3)) for k in range(6)])
    assert hexagon.area() == pytest.approx(3 * math.sqrt(3) / 2)
