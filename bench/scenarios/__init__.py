"""One module per scenario, each with ``run(context: bench.registry.Context) -> list[bench.registry.Result]``.

Modules are imported after Django is set up, so they may import models at the top.
"""
