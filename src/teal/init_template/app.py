"""Your teal app: each handler below becomes a Lambda function behind API Gateway."""

from teal import App, Response

app = App()

ITEMS: dict[str, dict[str, object]] = {}


@app.route("/health")
def health(request):
    return {"status": "ok"}


@app.route("/items", methods=["GET"], function="items")
def list_items(request):
    return {"items": list(ITEMS.values())}


@app.route("/items", methods=["POST"], function="items")
def create_item(request):
    item = {"id": str(len(ITEMS) + 1), **(request.json() or {})}
    ITEMS[str(item["id"])] = item
    return Response(item, status=201)


@app.route("/items/{id}", function="items")
def show_item(request):
    item = ITEMS.get(request.path_params["id"])
    return item if item else Response({"error": "not found"}, status=404)
