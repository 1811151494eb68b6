"""The scenario registry: every module in ``bench/scenarios`` is a scenario named after the module."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from bench import scenarios


@dataclass(frozen=True)
class Context:
    """What the command line decided, handed to every scenario."""

    tickets: int
    batch_size: int
    seed: int
    profile: bool


@dataclass(frozen=True)
class Result:
    """One row of the report."""

    scenario: str
    metric: str
    value: float | int | str
    unit: str = ""
    notes: str = ""


Runner = Callable[[Context], list[Result]]


def names() -> list[str]:
    """Scenario names in a stable order, without importing them (Django may not be set up yet)."""
    return sorted(m.name for m in pkgutil.iter_modules(scenarios.__path__) if not m.name.startswith("_"))


def runner(name: str) -> Runner:
    module = importlib.import_module(f"{scenarios.__name__}.{name}")
    run = getattr(module, "run", None)
    if not callable(run):
        raise LookupError(f"bench/scenarios/{name}.py has no run(context) function.")
    return run
