"""Finding the line of a key in teal.toml, for error messages."""

from __future__ import annotations

from teal.project.tomllines import key_lines, line_of

TEXT = '''\
# a comment = not a key
[app]
name = "blog"
description = """
memory = 1
[not.a.table]
"""
memory = 256
"quoted key" = 1
site.title = "x"

[ env . "prod" ]
timeout = 30

[env.prod.functions.posts.environment]
GREETING = "hi"

[[checks]]
path = "/a"

[[checks]]  # the second one
path = "/b"
'''


def test_tables_keys_and_arrays_of_tables() -> None:
    lines = key_lines(TEXT)
    assert lines[("app",)] == 2
    assert lines[("app", "name")] == 3
    assert lines[("app", "memory")] == 8  # not the line inside the multi-line string
    assert ("not", "a", "table") not in lines
    assert lines[("app", "quoted key")] == 9
    assert lines[("app", "site", "title")] == 10 and lines[("app", "site")] == 10
    assert lines[("env", "prod")] == 12 and lines[("env", "prod", "timeout")] == 13
    assert lines[("env", "prod", "functions", "posts")] == 15  # defined by a deeper header
    assert lines[("env", "prod", "functions", "posts", "environment", "GREETING")] == 16
    assert lines[("checks", 0, "path")] == 19
    assert lines[("checks", 1)] == 21 and lines[("checks", 1, "path")] == 22


def test_a_key_not_written_falls_back_to_its_table() -> None:
    lines = key_lines(TEXT)
    assert line_of(lines, ("app", "runtime")) == 2
    assert line_of(lines, ("env", "prod", "environment", "BAD", "[key]")) == 12
    assert line_of(lines, ("domain", "name")) is None


def test_the_items_of_an_array_written_over_several_lines_have_their_own_lines() -> None:
    text = (
        "[app]\n"
        "policies = [\n"
        '  { effect = "Allow", actions = ["s3:Get*"], resources = ["*"] },  # a comment [\n'
        '  "arn:aws:iam::aws:policy/ReadOnlyAccess",\n'
        "\n"
        '  { effect = "Deny", actions = ["s3:Delete*", "s3:Put*"], resources = ["*"] },\n'
        "]\n"
        'layers = ["a", "b"]\n'
        "memory = 1\n"
    )
    lines = key_lines(text)
    assert lines[("app", "policies")] == 2
    assert [lines[("app", "policies", i)] for i in range(3)] == [3, 4, 6]
    assert lines[("app", "layers", 1)] == 8
    assert lines[("app", "memory")] == 9
    assert line_of(lines, ("app", "policies", 2, "statement", "effect")) == 6
