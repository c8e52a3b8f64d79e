"""The app both benchmarks measure: ``routes`` routes spread over ten groups.

Standard library and teal only: ``benchmarks/deploy.py`` copies this file into
a generated project, whose ``app.py`` calls :func:`build_app`, so the app
deployed through the CLI is the very app ``benchmarks/plan.py`` analyzes.
"""

from __future__ import annotations

from teal.runtime.app import App


def handler(request: object) -> object:
    return {}


def build_app(routes: int, functions: int = 40) -> App:
    """Collections and items under ten groups: /gN/itemsK (GET, POST), /gN/itemsK/{id} (GET).

    Route ``i`` is served by function ``f<i mod functions>``.
    """
    app = App()
    for i in range(routes):
        collection = f"/g{i % 10}/items{i // 2}"
        path, methods = (
            (f"{collection}/{{id}}", ["GET"]) if i % 2 else (collection, ["GET", "POST"])
        )
        app.route(path, methods=methods, function=f"f{i % functions}")(handler)
    return app
