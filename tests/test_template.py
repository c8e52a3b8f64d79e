"""Template synthesis: shape, determinism, names, rotation, and cfn-lint."""

from __future__ import annotations

import json
import re

import pytest

from teal.project.config import DEFAULT_BINARY_MEDIA_TYPES, FunctionSettings
from teal.template import (
    TemplateLimitError,
    current_rest_api_logical_id,
    deployment_id,
    next_rest_api_logical_id,
    synthesize,
)
from teal.template.names import function_physical_name, generation, resource_id
from test_template_support import (
    CODE_KEY,
    big_table,
    lint_all,
    lint_errors,
    make_target,
    synth,
    table_of,
)

BLOG = [
    "GET /posts -> list_posts",
    "POST /posts -> create_post",
    "GET,DELETE /posts/{id} -> show_post",
    "GET /files/{path+} -> files",
    "GET / -> home",
]


def of_type(template: dict, kind: str) -> dict:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def test_blog_template_has_one_resource_per_path_part_and_method_per_route() -> None:
    template = synth(BLOG).template
    parts = sorted(
        r["Properties"]["PathPart"] for r in of_type(template, "AWS::ApiGateway::Resource").values()
    )
    assert parts == ["files", "posts", "{id}", "{path+}"]
    verbs = sorted(
        m["Properties"]["HttpMethod"] for m in of_type(template, "AWS::ApiGateway::Method").values()
    )
    assert verbs == ["DELETE", "GET", "GET", "GET", "GET", "POST"]
    assert len(of_type(template, "AWS::Lambda::Function")) == 5
    assert len(of_type(template, "AWS::Lambda::Permission")) == 5
    assert len(of_type(template, "AWS::IAM::Role")) == 5
    assert list(template["Parameters"]) == ["ArtifactBucket"]


def test_methods_use_aws_proxy_to_their_function() -> None:
    template = synth(["GET /posts/{id} -> show_post"]).template
    (method,) = of_type(template, "AWS::ApiGateway::Method").values()
    props = method["Properties"]
    assert props["AuthorizationType"] == "NONE"
    integration = props["Integration"]
    assert (integration["Type"], integration["IntegrationHttpMethod"]) == ("AWS_PROXY", "POST")
    text, variables = integration["Uri"]["Fn::Sub"]
    assert text.endswith("/functions/${FunctionArn}/invocations")
    (alias_id,) = of_type(template, "AWS::Lambda::Alias")
    assert variables == {"FunctionArn": {"Ref": alias_id}}


def test_function_carries_runtime_entry_and_user_settings() -> None:
    target = make_target(
        variables={"A1": "1"},
        functions={"show_post": FunctionSettings(memory=1024, timeout=30, environment={"B1": "2"})},
    )
    template = synthesize(table_of(["GET /posts/{id} -> show_post"]), target, CODE_KEY).template
    (fn,) = of_type(template, "AWS::Lambda::Function").values()
    props = fn["Properties"]
    assert props["Handler"] == "teal.runtime.entry.handler"
    assert props["Code"] == {"S3Bucket": {"Ref": "ArtifactBucket"}, "S3Key": CODE_KEY}
    assert (props["MemorySize"], props["Timeout"], props["Runtime"]) == (1024, 30, "python3.12")
    assert props["Environment"]["Variables"] == {
        "A1": "1",
        "B1": "2",
        "TEAL_ENTRY": "app:app",
        "TEAL_FUNCTION": "show_post",
        "TEAL_ENVIRONMENT": "blog-dev",
    }
    assert props["FunctionName"] == "blog-dev-show_post"


def test_role_may_write_only_its_environments_log_group() -> None:
    template = synth(["GET /a -> one"]).template
    (role,) = of_type(template, "AWS::IAM::Role").values()
    (statement,) = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert statement["Resource"]["Fn::Sub"].endswith(":log-group:/aws/lambda/blog-dev:*")
    assert "*" not in statement["Action"]


def test_every_function_logs_to_the_environments_one_log_group() -> None:
    template = synth(BLOG).template
    (group,) = of_type(template, "AWS::Logs::LogGroup").values()
    assert group["Properties"] == {"LogGroupName": "/aws/lambda/blog-dev"}
    assert "DeletionPolicy" not in group  # it goes with the environment, never blocks a redeploy
    functions = of_type(template, "AWS::Lambda::Function").values()
    assert len(functions) > 1
    for function in functions:
        logging = function["Properties"]["LoggingConfig"]
        assert logging == {"LogGroup": {"Ref": "EnvironmentLogs"}, "LogFormat": "Text"}


def test_permission_is_scoped_to_the_api_and_to_a_single_route() -> None:
    template = synth(["GET /posts/{id}/comments -> one", "GET,POST /x -> many"]).template
    arns = sorted(
        p["Properties"]["SourceArn"]["Fn::Sub"]
        for p in of_type(template, "AWS::Lambda::Permission").values()
    )
    assert arns[0].endswith(":${RestApi}/*/*")
    assert arns[1].endswith(":${RestApi}/*/GET/posts/*/comments")
    for permission in of_type(template, "AWS::Lambda::Permission").values():
        assert permission["Properties"]["Principal"] == "apigateway.amazonaws.com"


def test_synthesis_is_deterministic_and_independent_of_declaration_order() -> None:
    first = synth(BLOG).template
    second = synth(list(reversed(BLOG))).template
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_adding_a_route_only_adds_resources_and_a_new_deployment() -> None:
    before = synth(BLOG).template["Resources"]
    after = synth([*BLOG, "GET /tags -> tags"]).template["Resources"]
    removed = set(before) - set(after)
    assert len(removed) == 1 and removed.pop().startswith("Deployment")
    for key in set(before) & set(after):
        if not key.startswith("Stage"):
            assert before[key] == after[key], key


def test_deployment_id_changes_exactly_when_routes_or_binary_media_types_change() -> None:
    types = DEFAULT_BINARY_MEDIA_TYPES
    same = deployment_id(table_of(BLOG), "RestApi", types)
    assert deployment_id(table_of(list(reversed(BLOG))), "RestApi", types) == same
    changed_function = [*BLOG[:-1], "GET / -> other"]
    assert deployment_id(table_of(changed_function), "RestApi", types) != same
    assert deployment_id(table_of(BLOG[:-1]), "RestApi", types) != same
    assert deployment_id(table_of(BLOG), "RestApi1", types) != same
    # a stage serves its deployment's snapshot of the binary media types too
    assert deployment_id(table_of(BLOG), "RestApi", ("*/*",)) != same
    # Memory or env var changes are not route changes.
    target = make_target(memory=1024)
    stage = synthesize(table_of(BLOG), target, CODE_KEY).template["Resources"]["Stage"]
    assert stage["Properties"]["DeploymentId"] == {"Ref": same}


def test_case_sensitive_paths_get_distinct_logical_ids() -> None:
    assert resource_id("/Posts") != resource_id("/posts")
    template = synth(["GET /Posts -> a", "GET /posts -> b"]).template
    assert len(of_type(template, "AWS::ApiGateway::Resource")) == 2
    assert not lint_errors(template)


def test_logical_ids_are_alphanumeric() -> None:
    template = synth([*BLOG, "GET /a-b/c_d/{x}/e.f -> weird-name_1"]).template
    for logical_id in [*template["Resources"], *template["Outputs"]]:
        assert re.fullmatch(r"[A-Za-z0-9]{1,255}", logical_id), logical_id


@pytest.mark.parametrize("environment", ["blog-dev", "b" * 40 + "-" + "e" * 32 + "-" + "x" * 32])
def test_function_names_fit_lambda_limit_and_stay_distinct(environment: str) -> None:
    names = {
        function_physical_name(environment, f, gen)
        for f in ("a" * 40, "a" * 39 + "b", "x")
        for gen in ("", "G1")
    }
    assert len(names) == 6
    for name in names:
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name), name
    assert function_physical_name(environment, "x") == function_physical_name(environment, "x")


def test_rest_api_rotation_names() -> None:
    assert next_rest_api_logical_id("RestApi") == "RestApi1"
    assert next_rest_api_logical_id("RestApi1") == "RestApi2"
    assert next_rest_api_logical_id("RestApi9") == "RestApi10"
    assert generation("RestApi") == "" and generation("RestApi12") == "G12"


def test_current_rest_api_logical_id_reads_the_deployed_template() -> None:
    assert current_rest_api_logical_id(None) is None
    assert current_rest_api_logical_id(synth(BLOG).template) == "RestApi"
    rotated = synth(BLOG, rest_api_logical_id="RestApi3").template
    assert current_rest_api_logical_id(rotated) == "RestApi3"
    rotated.pop("Metadata")
    assert current_rest_api_logical_id(rotated) == "RestApi3"


def test_rotated_template_shares_no_logical_id_with_the_old_one() -> None:
    old = synth(BLOG).template["Resources"]
    new = synth(BLOG, rest_api_logical_id="RestApi1").template
    # but the environment's log group, which every generation writes to
    assert set(old) & set(new["Resources"]) == {"EnvironmentLogs"}
    assert new["Outputs"]["RestApiId"] == {"Value": {"Ref": "RestApi1"}}
    assert new["Outputs"]["RestApiLogicalId"] == {"Value": "RestApi1"}
    names = [
        f["Properties"]["FunctionName"] for f in of_type(new, "AWS::Lambda::Function").values()
    ]
    assert all(n.endswith("-g1") for n in names)
    assert not lint_errors(new)


def test_outputs() -> None:
    template = synth(BLOG).template
    outputs = template["Outputs"]
    assert outputs["StageName"] == {"Value": {"Ref": "Stage"}}
    assert outputs["Endpoint"]["Value"]["Fn::Sub"] == (
        "https://${RestApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/dev/"
    )
    assert sum(k.endswith("Name") and k.startswith("Fn") for k in outputs) == 5
    meta = template["Metadata"]["teal"]
    assert meta["rest_api_logical_id"] == "RestApi" and meta["version"] == 1


def test_function_outputs_are_left_out_past_the_output_limit() -> None:
    table = big_table(400, functions=92)
    template = synthesize(table, make_target(), CODE_KEY).template
    assert len(template["Outputs"]) == 4 + 92
    assert len(template["Metadata"]["teal"]["functions"]) == 92


def test_an_app_without_routes_is_refused() -> None:
    with pytest.raises(Exception, match="no routes"):
        synth([])


def test_too_many_functions_for_one_template_is_a_clear_user_error() -> None:
    with pytest.raises(TemplateLimitError, match="CloudFormation allows 500") as raised:
        synthesize(big_table(170, functions=170), make_target(), CODE_KEY)
    assert "function=" in (raised.value.hint or "")


@pytest.mark.parametrize("routes", [1, 10])
def test_small_templates_pass_cfn_lint_without_findings(routes: int) -> None:
    template = synthesize(big_table(routes, functions=routes), make_target(), CODE_KEY).template
    assert lint_all(template) == []


def test_blog_template_passes_cfn_lint_without_findings() -> None:
    assert lint_all(synth(BLOG).template) == []


def test_rotated_template_can_live_beside_the_old_one_in_one_stack() -> None:
    """The deployer's gap-free switch applies the union of both templates first."""
    from teal.template.combine import combine_for_switch

    old = synth(BLOG).template
    new = synth([*BLOG, "GET /x/{y} -> x"], rest_api_logical_id="RestApi1").template
    combined = combine_for_switch(old, new)
    # one log group serves both generations
    assert len(combined["Resources"]) == len(old["Resources"]) + len(new["Resources"]) - 1
    names = [
        r["Properties"]["FunctionName"]
        for r in combined["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    ]
    assert len(names) == len(set(names))


def test_the_rest_api_lists_the_binary_media_types_of_the_target() -> None:
    (default,) = of_type(synth(BLOG).template, "AWS::ApiGateway::RestApi").values()
    assert default["Properties"]["BinaryMediaTypes"] == list(DEFAULT_BINARY_MEDIA_TYPES)
    target = make_target(binary_media_types=("image/*", "multipart/form-data"))
    template = synthesize(table_of(BLOG), target, CODE_KEY).template
    (api,) = of_type(template, "AWS::ApiGateway::RestApi").values()
    assert api["Properties"]["BinaryMediaTypes"] == ["image/*", "multipart/form-data"]
    assert not lint_errors(template)
