"""Your FastAPI app on teal: one Lambda function serves it, and each route below is
a resource of its API Gateway API (see `teal routes`)."""

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

app = FastAPI()

ITEMS: dict[int, dict[str, Any]] = {}


class Item(BaseModel):
    name: str


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/items")
def list_items() -> dict[str, Any]:
    return {"items": list(ITEMS.values())}


@app.post("/items", status_code=201)
def create_item(item: Item) -> dict[str, Any]:
    created = {"id": len(ITEMS) + 1, **item.model_dump()}
    ITEMS[created["id"]] = created
    return created


@app.get("/items/{item_id}")
def show_item(item_id: int, request: Request) -> dict[str, Any]:
    if item_id not in ITEMS:
        raise HTTPException(status_code=404, detail="not found")
    # URLs the app builds work through the API's endpoint and through your domain
    return {**ITEMS[item_id], "url": str(request.url_for("show_item", item_id=item_id))}
