"""Small dense matrices of exact numbers."""

from matrixlib.matrix import Matrix, identity, zeros

__all__ = ["Matrix", "identity", "zeros"]
