"""Your teal app: each handler below becomes a Lambda function behind API Gateway."""

from typing import Any

from teal import App, Request, Response

app = App()

ITEMS: dict[str, dict[str, object]] = {}


@app.route("/health")
def health(request: Request) -> dict[str, str]:
    return {"status": "ok"}


@app.route("/items", methods=["GET"], function="items")
def list_items(request: Request) -> dict[str, Any]:
    return {"items": list(ITEMS.values())}


@app.route("/items", methods=["POST"], function="items")
def create_item(request: Request) -> Response:
    item = {"id": str(len(ITEMS) + 1), **(request.json() or {})}
    ITEMS[str(item["id"])] = item
    return Response(item, status=201)


@app.route("/items/{id}", function="items")
def show_item(request: Request) -> Any:
    item = ITEMS.get(request.path_params["id"])
    return item if item else Response({"error": "not found"}, status=404)
