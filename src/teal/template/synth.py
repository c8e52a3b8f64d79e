"""Synthesis: route table + target + code key + RestApi logical id -> templates.

Pure: no I/O, no clock. The deployed template (``previous``) only steers the
stable assignment of paths to nested stacks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from teal.project.config import Target
from teal.rules.labels import API_KEY_OUTPUT, REST_API_OUTPUT, STAGE_OUTPUT
from teal.runtime.access import Authorizer
from teal.runtime.errors import UserError
from teal.runtime.routes import Node, Route, RouteTable
from teal.template import dependency_layer
from teal.template import functions as fn_resources
from teal.template import queues as stack_queues
from teal.template.api import (
    ApiRefs,
    local_parent,
    main_refs,
    method_ids,
    node_resources,
    parent_path,
    resource_count,
)
from teal.template.auth import (
    access_facts,
    api_key_resources,
    authorizer_functions,
    authorizer_id,
    authorizer_resources,
    method_access,
    needs_api_key,
)
from teal.template.cors import (
    cors_facts,
    gateway_cors,
    gateway_responses,
    with_app_options,
    with_effective_cors,
)
from teal.template.function_options import extend_function
from teal.template.names import (
    REST_API_BASE,
    canonical_json,
    function_id,
    function_physical_name,
    generation,
    page_id,
    resource_id,
    short_hash,
)
from teal.template.pages import (
    TEMPLATE_OUTPUT_LIMIT,
    TEMPLATE_RESOURCE_LIMIT,
    TemplateLimitError,
    assign_pages,
    check_page_limits,
)
from teal.template.resources import merge_outputs, merge_resources, output_variables
from teal.template.types import Template
from teal.template.versions import add_versions

ARTIFACT_BUCKET = "ArtifactBucket"
METADATA_KEY = "teal"
METADATA_VERSION = 1
WARM_KEY = "warm"  # of the metadata: [functions.NAME] warm, by function
# Room kept in the main template for the RestApi, Deployment, Stage and pages.
MAIN_BUDGET = 450


class DeployedTemplates(Protocol):
    """What synthesis and analysis read of a deployed stack (``DeployedStack`` fits)."""

    @property
    def template(self) -> Template: ...
    @property
    def nested_templates(self) -> Mapping[str, Template]: ...


@dataclass(frozen=True)
class Synthesized:
    """The templates of one environment, ready to upload and apply."""

    template: Template
    nested: dict[str, Template]  # artifact key "templates/<sha256>.json" -> template
    nested_by_logical_id: dict[str, Template]  # AWS::CloudFormation::Stack id -> template
    rest_api_logical_id: str
    parameters: tuple[str, ...] = (ARTIFACT_BUCKET,)
    pages: Mapping[str, int] = field(default_factory=dict)


def synthesize(
    table: RouteTable,
    target: Target,
    code_key: str,
    rest_api_logical_id: str = REST_API_BASE,
    previous: DeployedTemplates | None = None,
) -> Synthesized:
    if not table.routes:
        raise UserError(
            "the app has no routes; API Gateway cannot deploy an API without methods",
            where=target.entry,
            hint="add at least one @app.route",
        )
    table = with_app_options(with_effective_cors(table, target.cors))
    gen = generation(rest_api_logical_id)
    resources: dict[str, Any] = fn_resources.environment_resources(target)
    resources.update(dependency_layer.layer_resources(target, gen))
    by_function = table.functions
    shared_variables = {
        **output_variables(target),
        **stack_queues.queue_variables(table.triggers, target),
    }
    for function in app_functions(table):
        routes = by_function.get(function, [])
        resources.update(
            fn_resources.function_resources(function, routes, target, code_key, rest_api_logical_id)
        )
    resources.update(authorizer_resources(table, target, code_key, rest_api_logical_id))
    for function in sorted({*app_functions(table), *authorizer_functions(table)}):
        extend_function(
            resources, function, target, table.triggers, gen=gen, shared_variables=shared_variables
        )
    resources.update(stack_queues.queue_resources(table.triggers, target))
    extra = target.extra_resources
    extra_count = len(extra.resources) if extra is not None else 0
    nodes = [n for n in table.tree.nodes() if resource_count(n) > 0]
    earlier = previous_pages(previous, rest_api_logical_id)
    api_size = sum(resource_count(n) for n in nodes)
    nested: dict[str, Template] = {}
    by_id: dict[str, Template] = {}
    pages: dict[str, int] = {}
    if earlier or len(resources) + extra_count + api_size > MAIN_BUDGET:
        pages = assign_pages(nodes, earlier)
        by_id, nested, stacks = _pages(nodes, pages, rest_api_logical_id, table.authorizers)
        resources.update(stacks)
        depends = sorted(stacks)
    else:
        refs = main_refs(rest_api_logical_id, _main_access(table.authorizers, gen))
        for node in nodes:
            resources.update(node_resources(node, refs))
        depends = method_ids(nodes, gen)
    responses = gateway_responses(
        gateway_cors(table, target.cors), {"Ref": rest_api_logical_id}, gen
    )
    resources.update(responses)
    depends = [*depends, *sorted(responses)]
    resources.update(_api(table, target, rest_api_logical_id, depends, previous))
    if needs_api_key(table):
        resources.update(
            api_key_resources(target, rest_api_logical_id, stage_id(rest_api_logical_id))
        )
    # once every invoker is in: a Version and an alias per function, invoked through it
    add_versions(
        resources, sorted({*app_functions(table), *authorizer_functions(table)}), target, gen
    )
    if extra is not None:
        # last, once every logical id of teal's is known: none may replace one of the user's
        merge_resources(extra, resources)
    if len(resources) > TEMPLATE_RESOURCE_LIMIT:
        raise TemplateLimitError(
            f"the main template would hold {len(resources)} resources; CloudFormation allows "
            f"{TEMPLATE_RESOURCE_LIMIT} "
            f"(each function takes {fn_resources.RESOURCES_PER_FUNCTION})",
            where=target.environment,
            hint="group routes into fewer functions with @app.route(..., function=...)",
        )
    template: Template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"teal environment {target.environment} (app {target.app})",
        "Metadata": {METADATA_KEY: _metadata(table, target, rest_api_logical_id, pages)},
        "Parameters": {
            ARTIFACT_BUCKET: {"Type": "String", "Description": "Bucket of teal's artifacts"}
        },
        "Resources": resources,
        "Outputs": _outputs(table, target, rest_api_logical_id),
    }
    if target.extra_resources is not None:
        merge_outputs(target.extra_resources, template["Outputs"])
    return Synthesized(template, nested, by_id, rest_api_logical_id, pages=pages)


def _main_access(
    authorizers: Mapping[str, Authorizer], gen: str
) -> Callable[[Route], dict[str, Any]]:
    """A route's access properties in the main template, authorizers referenced locally."""
    return lambda route: method_access(
        route, authorizers, lambda name: {"Ref": authorizer_id(name, gen)}
    )


def app_functions(table: RouteTable) -> list[str]:
    """Every function of the app, sorted: those routes call, and those only schedules or
    queues run."""
    return sorted({*table.functions, *table.triggers.functions})


def previous_pages(previous: DeployedTemplates | None, rest_api_logical_id: str) -> dict[str, int]:
    """The deployed page of each path, when the same RestApi stays (else a fresh layout)."""
    if previous is None or current_rest_api_logical_id(previous.template) != rest_api_logical_id:
        return {}
    meta = previous.template.get("Metadata", {}).get(METADATA_KEY, {})
    pages = meta.get("pages", {}) if isinstance(meta, dict) else {}
    return {str(k): int(v) for k, v in pages.items()} if isinstance(pages, dict) else {}


def current_rest_api_logical_id(deployed_template: Template | None) -> str | None:
    """The RestApi logical id a deployed template uses (from teal's metadata, else its type)."""
    if not deployed_template:
        return None
    meta = deployed_template.get("Metadata", {}).get(METADATA_KEY, {})
    if isinstance(meta, dict) and isinstance(meta.get("rest_api_logical_id"), str):
        return str(meta["rest_api_logical_id"])
    for logical_id, resource in deployed_template.get("Resources", {}).items():
        if resource.get("Type") == "AWS::ApiGateway::RestApi":
            return str(logical_id)
    return None


def deployment_id(
    table: RouteTable,
    rest_api_logical_id: str,
    binary_media_types: Sequence[str] = (),
    access: Sequence[Any] = (),
) -> str:
    """Changes exactly when the routes (path, verb, function), the RestApi, its binary
    media types, or ``access`` (CORS, authorizers, API keys) change.

    A stage serves its deployment's snapshot of the API, binary media types,
    gateway responses and authorizers included: a change reaches clients only
    through a new Deployment. An app without any keeps the ids it had.
    """
    routes = [(path, verb, route.function) for path, verb, route in table.endpoints()]
    facts: list[Any] = [rest_api_logical_id, routes]
    if binary_media_types:
        facts.append(list(binary_media_types))
    if access:
        facts.append(list(access))
    return f"Deployment{short_hash(canonical_json(facts), 12)}"


def _api(
    table: RouteTable,
    target: Target,
    rest_api_id: str,
    depends: list[str],
    previous: DeployedTemplates | None = None,
) -> dict[str, Any]:
    access = [*cors_facts(table, gateway_cors(table, target.cors)), *access_facts(table)]
    routes_hash = deployment_id(table, rest_api_id, target.binary_media_types, access)
    deployment = _kept_deployment_id(routes_hash, previous)
    return {
        rest_api_id: {
            "Type": "AWS::ApiGateway::RestApi",
            "Properties": {
                "Name": target.environment,
                "EndpointConfiguration": {"Types": ["REGIONAL"]},
                "BinaryMediaTypes": list(target.binary_media_types),
            },
        },
        deployment: {
            "Type": "AWS::ApiGateway::Deployment",
            "DependsOn": depends,
            "Properties": {
                "RestApiId": {"Ref": rest_api_id},
                "Description": f"teal routes {routes_hash.removeprefix('Deployment')}",
            },
        },
        stage_id(rest_api_id): {
            "Type": "AWS::ApiGateway::Stage",
            "Properties": {
                "RestApiId": {"Ref": rest_api_id},
                "StageName": target.stage,
                "DeploymentId": {"Ref": deployment},
            },
        },
    }


def _kept_deployment_id(base: str, previous: DeployedTemplates | None) -> str:
    """The deployed Deployment's id when it snapshots the same routes (``base`` or a
    refreshed ``base`` + ``R``, see :func:`with_fresh_deployment`), else ``base``."""
    if previous is not None:
        for logical_id in previous.template.get("Resources", {}):
            if logical_id in (base, base + REFRESH_SUFFIX):
                return str(logical_id)
    return base


REFRESH_SUFFIX = "R"


def with_fresh_deployment(template: Template) -> Template:
    """The same template with a new logical id for its Deployment.

    CloudFormation creates the new Deployment (a snapshot of the API) before
    it deletes removed methods at cleanup, so after an update that removes
    routes the stage would keep serving them; applying this template once
    more takes a snapshot without them. Ids alternate between ``base`` and
    ``base`` + ``R``, and synthesis keeps whichever is deployed.
    """
    resources: dict[str, Any] = template["Resources"]
    old = next(k for k, v in resources.items() if v["Type"] == "AWS::ApiGateway::Deployment")
    new = old.removesuffix(REFRESH_SUFFIX) if old.endswith(REFRESH_SUFFIX) else old + REFRESH_SUFFIX
    text = canonical_json(template)
    renamed = text.replace(f'"{old}"', f'"{new}"')
    fresh: Template = json.loads(renamed)
    return fresh


def stage_id(rest_api_logical_id: str) -> str:
    return f"Stage{generation(rest_api_logical_id)}"


def _outputs(table: RouteTable, target: Target, rest_api_id: str) -> dict[str, Any]:
    endpoint = (
        f"https://${{{rest_api_id}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/"
        f"{target.stage}/"
    )
    outputs: dict[str, Any] = {
        REST_API_OUTPUT: {"Value": {"Ref": rest_api_id}},
        STAGE_OUTPUT: {"Value": {"Ref": stage_id(rest_api_id)}},
        "Endpoint": {"Value": {"Fn::Sub": endpoint}},
        "RestApiLogicalId": {"Value": rest_api_id},
    }
    if needs_api_key(table):  # its value is API Gateway's to tell (teal status)
        outputs[API_KEY_OUTPUT] = {"Value": {"Ref": "ApiKey"}}
    functions = app_functions(table)
    gen = generation(rest_api_id)
    # Past the output limit the names are still in the template's metadata.
    if len(outputs) + len(functions) <= TEMPLATE_OUTPUT_LIMIT:
        for function in functions:
            fn_id = function_id(function, gen)
            outputs[f"{function_id(function)}Name"] = {"Value": {"Ref": fn_id}}
    return outputs


def _metadata(
    table: RouteTable, target: Target, rest_api_id: str, pages: Mapping[str, int]
) -> dict[str, Any]:
    return {
        "version": METADATA_VERSION,
        "rest_api_logical_id": rest_api_id,
        "stage": target.stage,
        "functions": {
            fn: function_physical_name(target.environment, fn, generation(rest_api_id))
            for fn in sorted({*app_functions(table), *authorizer_functions(table)})
        },
        "pages": dict(pages),
        "tags": dict(sorted(target.user_tags.items())),
        # what the plan names in the app's words (teal.plan.explain)
        "queues": stack_queues.queue_names(table.triggers, target),
        "extra_resources": sorted(target.extra_resources.resources)
        if target.extra_resources is not None
        else [],
        **_fixed_warm(target),
    }


def _fixed_warm(target: Target) -> dict[str, Any]:
    """``[functions.NAME] warm``, kept with the environment: a switch to it warms those
    functions so, the others to the live peak (teal.ops.warm). The key also says that the
    environment's runtime knows the warm-up event: one deployed before has none."""
    fixed = {n: s.warm for n, s in sorted(target.functions.items()) if s.warm is not None}
    return {WARM_KEY: fixed}


def artifact_key(template: Template) -> str:
    return f"templates/{short_hash(canonical_json(template), 64)}.json"


def template_url(key: str) -> Any:
    return {"Fn::Sub": f"https://${{{ARTIFACT_BUCKET}}}.s3.${{AWS::Region}}.amazonaws.com/{key}"}


def _pages(
    nodes: list[Node[Route]],
    pages: Mapping[str, int],
    rest_api_id: str,
    authorizers: Mapping[str, Authorizer],
) -> tuple[dict[str, Template], dict[str, Template], dict[str, Any]]:
    """Page templates (by stack logical id and by artifact key) and their Stack resources."""
    by_id: dict[str, Template] = {}
    by_key: dict[str, Template] = {}
    stacks: dict[str, Any] = {}
    exported = _exported_parents(nodes, pages)
    members_of: dict[int, list[Node[Route]]] = {}
    for node in nodes:
        members_of.setdefault(pages[node.path], []).append(node)
    for number, members in sorted(members_of.items()):
        template, inputs = _page_template(number, members, pages, exported, authorizers)
        key = artifact_key(template)
        logical_id = page_id(number, generation(rest_api_id))
        by_id[logical_id] = by_key[key] = template
        stacks[logical_id] = {
            "Type": "AWS::CloudFormation::Stack",
            "Properties": {
                "TemplateURL": template_url(key),
                "Parameters": {
                    name: _page_input(name, inputs[name], rest_api_id, pages) for name in inputs
                },
            },
        }
    return by_id, by_key, stacks


def _exported_parents(nodes: list[Node[Route]], pages: Mapping[str, int]) -> set[str]:
    """Paths whose resource id another page needs as a parent."""
    return {
        parent_path(n.path)
        for n in nodes
        if n.path != "/"
        and parent_path(n.path) != "/"
        and pages[parent_path(n.path)] != pages[n.path]
    }


# What a page parameter stands for: the RestApi, its root, a parent path, a function.
PageInput = tuple[str, str]


def _page_template(
    number: int,
    members: list[Node[Route]],
    pages: Mapping[str, int],
    exported: set[str],
    authorizers: Mapping[str, Authorizer],
) -> tuple[Template, dict[str, PageInput]]:
    inputs: dict[str, PageInput] = {"RestApiId": ("restapi", "")}

    def parent(path: str) -> Any:
        if path == "/":
            inputs["RootResourceId"] = ("root", "")
        elif pages[path] != number:
            inputs[resource_id(path)] = ("parent", path)
        return local_parent(path, {"Ref": "RootResourceId"}, "")

    def function_arn(function: str) -> Any:
        name = f"{function_id(function)}Arn"
        inputs[name] = ("function", function)
        return {"Ref": name}

    def authorizer_ref(name: str) -> Any:
        parameter = f"{authorizer_id(name)}Id"
        inputs[parameter] = ("authorizer", name)
        return {"Ref": parameter}

    def access(route: Route) -> dict[str, Any]:
        return method_access(route, authorizers, authorizer_ref)

    # Ids inside a page need no generation suffix: the page is a namespace of its own.
    refs = ApiRefs({"Ref": "RestApiId"}, "", parent, function_arn, access)
    resources: dict[str, Any] = {}
    for node in members:
        resources.update(node_resources(node, refs))
    outputs = {
        resource_id(n.path): {"Value": {"Ref": resource_id(n.path)}}
        for n in members
        if n.path in exported
    }
    where = (
        f"API page {number} (routes from {members[0].path})" if members else f"API page {number}"
    )
    check_page_limits(number, len(resources), len(inputs), len(outputs), where=where)
    template: Template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"teal API page {number}",
        "Parameters": {name: {"Type": "String"} for name in sorted(inputs)},
        "Resources": resources,
    }
    if outputs:
        template["Outputs"] = outputs
    return template, inputs


def _page_input(name: str, what: PageInput, rest_api_id: str, pages: Mapping[str, int]) -> Any:
    kind, subject = what
    match kind:
        case "restapi":
            return {"Ref": rest_api_id}
        case "root":
            return {"Fn::GetAtt": [rest_api_id, "RootResourceId"]}
        case "parent":
            page = page_id(pages[subject], generation(rest_api_id))
            return {"Fn::GetAtt": [page, f"Outputs.{name}"]}
        case "authorizer":
            return {"Ref": authorizer_id(subject, generation(rest_api_id))}
        case _:
            return {"Fn::GetAtt": [function_id(subject, generation(rest_api_id)), "Arn"]}


@dataclass(frozen=True)
class StoredTemplates:
    """Templates read back from files or a cloud: the shape synthesis and analysis take."""

    template: Template
    nested_templates: Mapping[str, Template] = field(default_factory=dict)


def artifact_keys(template: Template) -> set[str]:
    """Every artifact a main template uses: code zips and nested templates."""
    keys = set(nested_keys(template).values())
    for resource in template.get("Resources", {}).values():
        code = resource.get("Properties", {}).get("Code")
        if resource.get("Type") == "AWS::Lambda::Function" and isinstance(code, dict):
            key = code.get("S3Key")
            if isinstance(key, str):
                keys.add(key)
    return keys


def nested_keys(template: Template) -> dict[str, str]:
    """Artifact key of each nested stack (by its logical id), read from its TemplateURL."""
    keys: dict[str, str] = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::CloudFormation::Stack":
            continue
        url = resource.get("Properties", {}).get("TemplateURL")
        text = url.get("Fn::Sub") if isinstance(url, dict) else url
        if isinstance(text, str) and ".amazonaws.com/" in text:
            keys[logical_id] = text.split(".amazonaws.com/", 1)[1]
    return keys
