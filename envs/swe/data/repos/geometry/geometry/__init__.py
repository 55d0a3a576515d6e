"""Plane geometry on floats and exact numbers."""

from geometry.polygon import Polygon
from geometry.vector import Vec, distance, segments_intersect

__all__ = ["Polygon", "Vec", "distance", "segments_intersect"]
