"""Small helpers shared by every layer of mmdicm (no dependencies beyond the stdlib)."""
from .validation import check_int

__all__ = ['check_int']
