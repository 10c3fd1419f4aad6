"""Benchmarks of tigateway_channels (see docs/performance.md)."""
