"""Row-major matrices; determinant and inverse by Gaussian elimination over Fractions."""

from fractions import Fraction


class Matrix:
    def __init__(self, rows):
        rows = [list(r) for r in rows]
        if not rows or not rows[0]:
            raise ValueError("a matrix needs at least one row and one column")
        width = len(rows[0])
        if any(len(r) != width for r in rows):
            raise ValueError("all rows must have the same length")
        self.rows = rows

    @property
    def shape(self):
        return (len(self.rows), len(self.rows[0]))

    @property
    def is_square(self):
        return self.shape[0] == self.shape[1]

    def __getitem__(self, index):
        i, j = index
        return self.rows[i][j]

    def row(self, i):
        return list(self.rows[i])

    def column(self, j):
        return [r[j] for r in self.rows]

    def __eq__(self, other):
        return isinstance(other, Matrix) and self.rows == other.rows

    def __repr__(self):
        return f"Matrix({self.rows!r})"

    def _check_same_shape(self, other):
        if self.shape != other.shape:
            raise ValueError(f"shape mismatch: {self.shape} vs {other.shape}")

    def __add__(self, other):
        self._check_same_shape(other)
        return Matrix([[a + b for a, b in zip(r, s)] for r, s in zip(self.rows, other.rows)])

    def __sub__(self, other):
        self._check_same_shape(other)
        return Matrix([[a - b for a, b in zip(r, s)] for r, s in zip(self.rows, other.rows)])

    def scale(self, factor):
        return Matrix([[factor * a for a in r] for r in self.rows])

    def __matmul__(self, other):
        n, m = self.shape
        m2, p = other.shape
        if m != m2:
            raise ValueError(f"cannot multiply {self.shape} by {other.shape}")
        return Matrix(
            [[sum(self.rows[i][k] * other.rows[k][j] for k in range(m)) for j in range(p)] for i in range(n)]
        )

    def transpose(self):
        n, m = self.shape
        return Matrix([[self.rows[i][j] for i in range(n)] for j in range(m)])

    def trace(self):
        if not self.is_square:
            raise ValueError("trace needs a square matrix")
        return sum(self.rows[i][i] for i in range(self.shape[0]))

    def determinant(self):
        if not self.is_square:
            raise ValueError("determinant needs a square matrix")
        n = self.shape[0]
        a = [[Fraction(x) for x in r] for r in self.rows]
        det = Fraction(1)
        for col in range(n):
            pivot = next((r for r in range(col, n) if a[r][col] != 0), None)
            if pivot is None:
                return 0
            if pivot != col:
                a[col], a[pivot] = a[pivot], a[col]
                det = -det
            det *= a[col][col]
            for r in range(col + 1, n):
                factor = a[r][col] / a[col][col]
                for c in range(col, n):
                    a[r][c] -= factor * a[col][c]
        return _simplify(det)

    def inverse(self):
        if not self.is_square:
            raise ValueError("inverse needs a square matrix")
        n = self.shape[0]
        a = [
            [Fraction(x) for x in r] + [Fraction(int(i == j)) for j in range(n)]
            for i, r in enumerate(self.rows)
        ]
        for col in range(n):
            pivot = next((r for r in range(col, n) if a[r][col] != 0), None)
            if pivot is None:
                raise ValueError("matrix is singular")
            a[col], a[pivot] = a[pivot], a[col]
            lead = a[col][col]
            a[col] = [x / lead for x in a[col]]
            for r in range(n):
                if r != col and a[r][col] != 0:
                    factor = a[r][col]
                    a[r] = [x - factor * y for x, y in zip(a[r], a[col])]
        return Matrix([[_simplify(x) for x in r[n:]] for r in a])

    def power(self, exponent):
        if not self.is_square:
            raise ValueError("power needs a square matrix")
        if exponent < 0:
            return self.inverse().power(-exponent)
        result = identity(self.shape[0])
        base = self
        while exponent > 0:
            if exponent % 2 == 1:
                result = result @ base
            base = base @ base
            exponent //= 2
        return result


def _simplify(value):
    """Fractions with denominator 1 come back as ints."""
    if isinstance(value, Fraction) and value.denominator == 1:
        return value.numerator
    return value


def identity(n):
    return Matrix([[1 if i == j else 0 for j in range(n)] for i in range(n)])


def zeros(n, m):
    return Matrix([[0] * m for _ in range(n)])
