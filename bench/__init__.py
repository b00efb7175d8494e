"""firstblock's benchmarks (issue 8): API requests, CPU, wall time and memory per
account-cycle, and how they grow. Run from a checkout: `python -m bench`.

Each section is a module with `run(quick: bool) -> dict` (JSON-able figures) and
`markdown(result: dict) -> str` (its part of the report); `__main__` runs them all.
"""
