"""Your Flask app on teal: one Lambda function serves it, and each route below is
a resource of its API Gateway API (see `teal routes`)."""

from typing import Any

from flask import Flask, abort, request, url_for

app = Flask(__name__)

ITEMS: dict[int, dict[str, Any]] = {}


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/items")
def list_items() -> dict[str, Any]:
    return {"items": list(ITEMS.values())}


@app.post("/items")
def create_item() -> tuple[dict[str, Any], int]:
    created = {"id": len(ITEMS) + 1, **(request.get_json(silent=True) or {})}
    ITEMS[created["id"]] = created
    return created, 201


@app.get("/items/<int:item_id>")
def show_item(item_id: int) -> dict[str, Any]:
    if item_id not in ITEMS:
        abort(404)
    # URLs the app builds work through the API's endpoint and through your domain
    return {**ITEMS[item_id], "url": url_for("show_item", item_id=item_id, _external=True)}
