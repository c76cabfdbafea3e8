"""High-level entry points behind the tools (``make demo``)."""
from .demo import DEMO_CONFIG, DEMO_METRICS, format_summary, learned, run_demo

__all__ = ['DEMO_CONFIG', 'DEMO_METRICS', 'format_summary', 'learned', 'run_demo']
