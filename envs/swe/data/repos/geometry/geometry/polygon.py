"""Simple polygons given by their vertices in order."""

from geometry.vector import Vec, distance, orientation


class Polygon:
    def __init__(self, points):
        points = [p if isinstance(p, Vec) else Vec(*p) for p in points]
        if len(points) < 3:
            raise ValueError("a polygon needs at least three vertices")
        self.points = points

    def edges(self):
        n = len(self.points)
        return [(self.points[i], self.points[(i + 1) % n]) for i in range(n)]

    def signed_area(self):
        """Shoelace formula: positive for counter-clockwise vertex order."""
        total = 0
        for a, b in self.edges():
            total += a.cross(b)
        return total / 2

    def area(self):
        return abs(self.signed_area())

    def perimeter(self):
        return sum(distance(a, b) for a, b in self.edges())

    def is_counter_clockwise(self):
        return self.signed_area() > 0

    def centroid(self):
        area = self.signed_area()
        if area == 0:
            raise ValueError("degenerate polygon has no centroid")
        cx = cy = 0
        for a, b in self.edges():
            factor = a.cross(b)
            cx += (a.x + b.x) * factor
            cy += (a.y + b.y) * factor
        return Vec(cx / (6 * area), cy / (6 * area))

    def bounding_box(self):
        xs = [p.x for p in self.points]
        ys = [p.y for p in self.points]
        return (min(xs), min(ys), max(xs), max(ys))

    def contains(self, point):
        """Ray casting to the right; points on the boundary count as inside."""
        point = point if isinstance(point, Vec) else Vec(*point)
        inside = False
        for a, b in self.edges():
            if (
                orientation(a, b, point) == 0
                and min(a.x, b.x) <= point.x <= max(a.x, b.x)
                and min(a.y, b.y) <= point.y <= max(a.y, b.y)
            ):
                return True
            if (a.y > point.y) != (b.y > point.y):
                x_cross = a.x + (point.y - a.y) * (b.x - a.x) / (b.y - a.y)
                if point.x < x_cross:
                    inside = not inside
        return inside

    def is_convex(self):
        turns = set()
        n = len(self.points)
        for i in range(n):
            turn = orientation(self.points[i], self.points[(i + 1) % n], self.points[(i + 2) % n])
            if turn != 0:
                turns.add(turn)
        return len(turns) <= 1
