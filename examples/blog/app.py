"""A small blog API, served by teal on Lambda + API Gateway or the local cloud."""

import os

from teal import App, Response

VERSION = "1"

app = App()

# Module state lives as long as the Lambda execution environment (warm reuse).
POSTS: dict[str, dict[str, str]] = {
    "1": {"id": "1", "title": "Hello, teal", "body": "Every deploy is a blue-green deploy."},
}


@app.route("/health")
def health(request):
    return {"status": "ok", "version": VERSION}


@app.route("/")
def home(request):
    title = os.environ.get("BLOG_TITLE", "blog")
    return f"{title} (version {VERSION})\n"


# The post handlers share one Lambda function, and so one in-memory store.
@app.route("/posts", methods=["GET"], function="posts")
def list_posts(request):
    limit = int(request.query.get("limit", "20"))
    return {"posts": list(POSTS.values())[:limit]}


@app.route("/posts", methods=["POST"], function="posts")
def create_post(request):
    data = request.json() or {}
    post_id = str(len(POSTS) + 1)
    POSTS[post_id] = {"id": post_id, "title": data.get("title", ""), "body": data.get("body", "")}
    return Response(POSTS[post_id], status=201, headers={"Location": f"/posts/{post_id}"})


@app.route("/posts/{id}", methods=["GET", "DELETE"], function="posts")
def show_post(request):
    post_id = request.path_params["id"]
    if post_id not in POSTS:
        return Response({"error": f"no post {post_id}"}, status=404)
    if request.method == "DELETE":
        return Response(POSTS.pop(post_id), status=200)
    return POSTS[post_id]


@app.route("/posts/{id}/comments")
def list_comments(request):
    return {"post": request.path_params["id"], "comments": []}
