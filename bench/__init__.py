"""Benchmarks against a real PostgreSQL database: ``python -m bench`` (see ``bench/__main__.py``).

Not tests: they print figures and never fail on timing. Each scenario is a module in
``bench/scenarios/`` with a ``run(context) -> list[Result]`` function; adding a module adds a scenario.
"""
