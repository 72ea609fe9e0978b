"""Benchmarks behind `actionlab bench NAME`: one module each with `add_arguments` and `run`.

Each prints its figures side by side with a baseline measured in the same run.
"""
