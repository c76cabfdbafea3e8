"""Small helpers shared by every layer of mmdicm (no dependencies beyond the stdlib)."""
from .validation import check_drop_path, check_int, check_layer_scale

__all__ = ['check_int', 'check_drop_path', 'check_layer_scale']
