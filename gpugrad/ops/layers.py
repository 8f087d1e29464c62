"""PLACEHOLDER: owned and written by the nn engineer (issue 5)."""
__all__ = []
