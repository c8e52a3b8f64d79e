"""The shape every part of teal passes templates around in."""

from __future__ import annotations

from typing import Any

# A CloudFormation template as parsed JSON (or about to be written as JSON).
Template = dict[str, Any]
