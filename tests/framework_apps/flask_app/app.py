"""A Flask notes app: notes and users blueprints, static files, URLs built with url_for."""

from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request, url_for

VERSION = "1"

app = Flask(__name__)
notes = Blueprint("notes", __name__, url_prefix="/notes")
users = Blueprint("users", __name__, url_prefix="/users")


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok", "version": VERSION}


@notes.get("/")
def list_notes() -> dict[str, Any]:
    return {"notes": [], "tags": request.args.getlist("tag")}


@notes.post("/")
def create_note() -> tuple[dict[str, Any], int]:
    return {"created": request.get_json()}, 201


@notes.get("/<int:note_id>")
def show_note(note_id: int) -> dict[str, Any]:
    return {
        "id": note_id,
        "version": VERSION,
        "url": url_for("notes.show_note", note_id=note_id, _external=True),
    }


@users.get("/<int:user_id>", strict_slashes=False)
def show_user(user_id: int) -> Response:
    response = jsonify(id=user_id)
    response.set_cookie("seen", "1")
    response.set_cookie("user", str(user_id))
    return response


@users.get("/<int:user_id>/docs/<path:name>")
def user_doc(user_id: int, name: str) -> dict[str, Any]:
    return {"user": user_id, "name": name}


app.register_blueprint(notes)
app.register_blueprint(users)
