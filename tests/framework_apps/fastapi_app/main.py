"""A FastAPI shop: posts and users routers, static files, a lifespan."""

import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

VERSION = "1"
ORIGIN = "https://app.example.com"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00\x01"
STARTS: list[int] = []  # one entry per lifespan startup in this process


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    STARTS.append(os.getpid())
    yield {"greeting": "hello"}


app = FastAPI(lifespan=lifespan)
# the app answers its own preflights (teal's [cors] is not set)
app.add_middleware(CORSMiddleware, allow_origins=[ORIGIN], allow_methods=["*"])
posts = APIRouter(prefix="/posts")
users = APIRouter(prefix="/users")


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok", "version": VERSION}


@app.get("/lifespan")
def lifespan_state(request: Request) -> dict[str, Any]:
    return {"pid": os.getpid(), "starts": len(STARTS), "greeting": request.state.greeting}


@app.get("/session")
def session(response: Response) -> dict[str, bool]:
    response.set_cookie("session", "s1")
    response.set_cookie("theme", "dark")
    return {"ok": True}


@posts.get("")
def list_posts(tag: Annotated[list[str] | None, Query()] = None) -> dict[str, Any]:
    return {"posts": [], "tags": tag or []}


@posts.post("", status_code=201)
async def create_post(request: Request) -> dict[str, Any]:
    return {"created": await request.json()}


@posts.get("/{post_id}")
def show_post(post_id: int, request: Request) -> dict[str, Any]:
    return {
        "id": post_id,
        "version": VERSION,
        "url": str(request.url_for("show_post", post_id=post_id)),
    }


@posts.delete("/{post_id}", status_code=204)
def delete_post(post_id: int) -> None:
    return None


@users.get("/{user_id}/avatar")
def avatar(user_id: int) -> Response:
    return Response(PNG, media_type="image/png")


@users.get("/{user_id}/files/{path:path}")
def user_file(user_id: int, path: str) -> dict[str, Any]:
    return {"user": user_id, "path": path}


@app.post("/uploads")
async def upload(request: Request) -> dict[str, Any]:
    """A multipart upload, read from the raw body: each part's size and digest."""
    body = await request.body()
    boundary = request.headers["content-type"].split("boundary=", 1)[1].encode()
    files = []
    for part in body.split(b"--" + boundary)[1:-1]:
        _, _, content = part.partition(b"\r\n\r\n")
        content = content.removesuffix(b"\r\n")
        files.append({"size": len(content), "sha256": hashlib.sha256(content).hexdigest()})
    return {"files": files}


app.include_router(posts)
app.include_router(users)
app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
