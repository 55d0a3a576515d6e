"""2-D vectors and segment tests."""

import math


class Vec:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __eq__(self, other):
        return isinstance(other, Vec) and self.x == other.x and self.y == other.y

    def __hash__(self):
        return hash((self.x, self.y))

    def __repr__(self):
        return f"Vec({self.x!r}, {self.y!r})"

    def __add__(self, other):
        return Vec(self.x + other.x, self.y + other.y)

    def __sub__(self, other):
        return Vec(self.x - other.x, self.y - other.y)

    def __mul__(self, factor):
        return Vec(self.x * factor, self.y * factor)

    def __neg__(self):
        return Vec(-self.x, -self.y)

    def dot(self, other):
        return self.x * other.x + self.y * other.y

    def cross(self, other):
        """z component of the 3-D cross product; positive when `other` is counter-clockwise."""
        return self.x * other.y - self.y * other.x

    def length(self):
        return math.hypot(self.x, self.y)

    def normalized(self):
        size = self.length()
        if size == 0:
            raise ValueError("cannot normalize the zero vector")
        return Vec(self.x / size, self.y / size)

    def rotate90(self):
        return Vec(-self.y, self.x)


def distance(a, b):
    return (a - b).length()


def orientation(a, b, c):
    """1 for a left turn a->b->c, -1 for a right turn, 0 when collinear."""
    value = (b - a).cross(c - a)
    if value > 0:
        return 1
    if value < 0:
        return -1
    return 0


def on_segment(p, a, b):
    return min(a.x, b.x) <= p.x <= max(a.x, b.x) and min(a.y, b.y) <= p.y <= max(a.y, b.y)


def segments_intersect(a, b, c, d):
    """Closed segments ab and cd share at least one point."""
    o1 = orientation(a, b, c)
    o2 = orientation(a, b, d)
    o3 = orientation(c, d, a)
    o4 = orientation(c, d, b)
    if o1 != o2 and o3 != o4:
        return True
    if o1 == 0 and on_segment(c, a, b):
        return True
    if o2 == 0 and on_segment(d, a, b):
        return True
    if o3 == 0 and on_segment(a, c, d):
        return True
    return o4 == 0 and on_segment(b, c, d)
