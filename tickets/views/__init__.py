"""The agent workspace: server-rendered pages, progressively enhanced with htmx.

Each module holds one area and its own ``urlpatterns``; ``tickets.urls`` puts them together under
the ``desk`` namespace. Views are thin: they parse input, call one selector or service, render.
"""
