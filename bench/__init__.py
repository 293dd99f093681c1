"""The benchmark harness (issue 6): `python -m bench [--quick]`, `make bench`; see docs/performance.md."""
