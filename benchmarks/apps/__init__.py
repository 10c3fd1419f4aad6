"""Baseline servers of the fan-out benchmark (not part of the product)."""
