"""Versions MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD] and simple ranges ('^1.2.0', '~1.2.3', '>=1.0.0 <2.0.0')."""

import functools


@functools.total_ordering
class Version:
    def __init__(self, major, minor=0, patch=0, prerelease=(), build=()):
        if min(major, minor, patch) < 0:
            raise ValueError("version numbers must not be negative")
        self.major = major
        self.minor = minor
        self.patch = patch
        self.prerelease = tuple(prerelease)
        self.build = tuple(build)

    @classmethod
    def parse(cls, text):
        text = text.strip()
        if text.startswith("v"):
            text = text[1:]
        core, _, build = text.partition("+")
        core, dash, prerelease = core.partition("-")
        numbers = core.split(".")
        if len(numbers) != 3 or not all(n.isdigit() for n in numbers):
            raise ValueError(f"not a version: {text!r}")
        if any(len(n) > 1 and n.startswith("0") for n in numbers):
            raise ValueError(f"leading zero in {text!r}")
        pre = tuple(prerelease.split(".")) if dash else ()
        if any(part == "" for part in pre):
            raise ValueError(f"empty prerelease identifier in {text!r}")
        return cls(
            int(numbers[0]), int(numbers[1]), int(numbers[2]), pre, tuple(build.split(".")) if build else ()
        )

    def __str__(self):
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text

    def __repr__(self):
        return f"Version.parse({str(self)!r})"

    def _key(self):
        return (self.major, self.minor, self.patch)

    def __eq__(self, other):
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() == other._key() and self.prerelease == other.prerelease

    def __hash__(self):
        return hash((self._key(), self.prerelease))

    def __lt__(self, other):
        if not isinstance(other, Version):
            return NotImplemented
        if self._key() != other._key():
            return self._key() < other._key()
        return _prerelease_less(self.prerelease, other.prerelease)

    def bump(self, part):
        if part == "major":
            return Version(self.major + 1, 0, 0)
        if part == "minor":
            return Version(self.major, self.minor + 1, 0)
        if part == "patch":
            if self.prerelease:
                return Version(self.major, self.minor, self.patch)
            return Version(self.major, self.minor, self.patch + 1)
        raise ValueError(f"unknown part: {part}")


def _prerelease_less(a, b):
    """A release sorts after its prereleases; identifiers compare numerically when both are digits."""
    if not a or not b:
        return bool(a) and not b
    for x, y in zip(a, b):
        if x == y:
            continue
        if x.isdigit() and y.isdigit():
            return int(x) < int(y)
        if x.isdigit() != y.isdigit():
            return x.isdigit()
        return x < y
    return len(a) < len(b)


def _comparator(text):
    for op in (">=", "<=", ">", "<", "="):
        if text.startswith(op):
            return op, Version.parse(text[len(op) :])
    return "=", Version.parse(text)


def _range_bounds(spec):
    """Turn caret and tilde ranges into a list of (operator, version) comparators."""
    spec = spec.strip()
    if spec.startswith("^"):
        low = Version.parse(spec[1:])
        if low.major > 0:
            high = Version(low.major + 1, 0, 0)
        elif low.minor > 0:
            high = Version(0, low.minor + 1, 0)
        else:
            high = Version(0, 0, low.patch + 1)
        return [(">=", low), ("<", high)]
    if spec.startswith("~"):
        low = Version.parse(spec[1:])
        return [(">=", low), ("<", Version(low.major, low.minor + 1, 0))]
    return [_comparator(part) for part in spec.split()]


def satisfies(version, spec):
    if isinstance(version, str):
        version = Version.parse(version)
    checks = {
        ">=": lambda v, w: v >= w,
        "<=": lambda v, w: v <= w,
        ">": lambda v, w: v > w,
        "<": lambda v, w: v < w,
        "=": lambda v, w: v == w,
    }
    return all(checks[op](version, bound) for op, bound in _range_bounds(spec))


def max_satisfying(versions, spec):
    matching = [Version.parse(v) if isinstance(v, str) else v for v in versions]
    matching = [v for v in matching if satisfies(v, spec)]
    return max(matching) if matching else None
