"""Every feature a project can declare, each as the files it adds to a base project.

A :class:`Feature` is what a user writes for it: sections of teal.toml, lines
of the teal App's module, other files (a ``[resources]`` template, lines of
requirements.txt), or a framework's app in place of the teal App, and the
``--env`` or ``--extra`` the command is given. :func:`project_of` merges the
features into one project (a key two features set differently is an error of
the catalogue), :meth:`Matrix.synthesis` writes it and reads it the way
``teal template`` does (``load_target``, ``target_routes``, ``package_for``,
``synthesize``: teal.toml through its reader, the app imported in the
runtime's Python, the requirements vendored for Lambda), and derives what a
deploy applies besides: the stack request (name, tags, parameters), the
domain's stack, and the side-by-side template of a replacement behind the
live domain.

:meth:`Matrix.facts` reads all of it into facts (:mod:`template_facts`); a
feature's fingerprint is what it adds to the base project's facts, derived,
never written by hand.

A preview (``teal preview``) is a routing rule on the custom domain, made at
run time and in no template; its feature declares the domain and marks the
environment previewed. Its fingerprint (:func:`preview_facts`) is the rule
:func:`teal.ops.environments.preview_rule` builds from the stack's outputs as
the command reads them once the template is deployed (:func:`deployed_as`): the
stage and API its action invokes, its header and whether ``--to`` reads the
header's value back as this environment, its base path, its priority, whether
``teal preview`` finds it again as this environment's preview; and whether the
deploy policy grants every call a preview makes (recorded from
:class:`teal.cloud.aws.routing.RoutingRules`) on the domain it touches. So
every pair with the preview checks that the other feature (a page split, an
extra environment, an env's overrides, a framework's app) leaves a rule that
still reaches the right API and stage, and a replacement's rule the next API.

The template does not depend on the cloud; the requirements and uv.lock
features deploy to AWS (``[app] cloud = "aws"``), where the dependencies are
vendored into the dependency layer, whose packages (and the machine of each
compiled extension) are facts of their own. A uv.lock project never meets a
requirements.txt (a framework's app brings one): a project has one source of
dependencies unless teal.toml names one.
"""

from __future__ import annotations

import fnmatch
import functools
import itertools
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import botocore.session
import pytest
from botocore.stub import Stubber

from teal.cli.common import load_target
from teal.cloud.aws.domains import domain_template
from teal.cloud.aws.policy import (
    TEAL_CALLS,
    deploy_policy,
    handler_actions,
    project_scope,
    resource_types,
)
from teal.cloud.aws.retry import Retrier
from teal.cloud.aws.routing import RoutingRules
from teal.cloud.base import DeployedStack, RoutingRule, StackRequest
from teal.ops.bluegreen import resolve_switch_target
from teal.ops.decision import package_for, with_layers
from teal.ops.environments import (
    PREVIEW_HEADER,
    Environment,
    free_priority,
    header_value,
    is_preview_rule,
    preview_rule,
)
from teal.project import loader
from teal.project.config import DomainSpec, Target, load_project
from teal.project.layers import LayerPackage, elf_machine
from teal.project.package import Package, vendored_files
from teal.project.runtimes import RuntimeWorld
from teal.rules.apigateway import RULES_THEN_MAPPINGS
from teal.runtime.routes import RouteTable
from teal.template import Synthesized, next_rest_api_logical_id, synthesize
from teal.template.combine import combine_for_switch
from teal.template.names import REST_API_BASE
from template_facts import Fact, Facts
from test_aws_vendor import wheel

BUCKET = "teal-artifacts-123456789012-us-east-1"
LAYER = "arn:aws:lambda:us-east-1:123456789012:layer:pillow:3"
USER_POOL = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_AbCdEf123"
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
# paths on top of the base: past the main template's budget (synth.MAIN_BUDGET)
PAGE_SPLIT_ITEMS = 150
SHARED_QUEUE = "arn:aws:sqs:us-east-1:123456789012:shop-audit"
WHEEL_NAME = "tealmatrixlib"  # the requirement of the requirements feature, a local wheel

AppKind = Literal["flask", "fastapi"]
Toml = Mapping[str, Any]


@dataclass(frozen=True)
class Feature:
    name: str
    what: str  # the feature as teal.toml or the app declares it
    toml: Toml = field(default_factory=dict)
    code: str = ""  # lines of the teal App's module
    files: Mapping[str, str] = field(default_factory=dict)
    requirements: tuple[str, ...] = ()
    app: AppKind | None = None  # a framework's app in place of the teal App
    env: str | None = None
    extra: str | None = None
    preview: bool = False  # `teal preview` of the environment on its domain (see PREVIEW)
    locked: bool = False  # its dependencies come from uv.lock (files holding {wheels})

    @property
    def writes_requirements(self) -> bool:
        """It adds lines to requirements.txt (a framework's app brings its framework)."""
        return bool(self.requirements) or self.app is not None

    @property
    def replaces_app(self) -> bool:
        """A framework's app is the app: the base's teal App and its route are gone."""
        return self.app is not None

    def __str__(self) -> str:
        return self.name


def combinable(first: Feature, second: Feature) -> bool:
    """Whether one project can declare both: a framework's app has none of a teal
    App's decorators, a project has one app, and one source of dependencies (a
    uv.lock beside a requirements.txt is refused unless teal.toml chooses one, and
    the other would then be left out)."""
    if first.app is not None and second.app is not None:
        return False
    if (first.locked and second.writes_requirements) or (
        second.locked and first.writes_requirements
    ):
        return False
    framework, other = (first, second) if first.app is not None else (second, first)
    return framework.app is None or not other.code


# ---------------------------------------------------------------- the base project

BASE_TOML: Toml = {
    "app": {"name": "shop", "entry": "app:app", "runtime": "python3.11"},
    "aws": {"region": "us-east-1"},
}

TEAL_APP = """\
from teal import App, CognitoAuthorizer, CORSConfig

app = App()


def ok(request):
    return {}


def on_event(event, context):
    return None


app.route("/base", methods=["GET"], function="app")(ok)
"""

FLASK_APP = """\
import flask

app = flask.Flask("shop")


@app.route("/items", methods=["GET", "POST"])
def items():
    return "[]"


@app.route("/items/<int:item_id>", methods=["GET", "PUT", "DELETE"])
def item(item_id):
    return "{}"
"""

FASTAPI_APP = """\
from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
def health():
    return {"status": "ok"}
"""

FRAMEWORK_APPS: dict[AppKind, tuple[str, str]] = {
    "flask": (FLASK_APP, "flask==3.1.3"),
    "fastapi": (FASTAPI_APP, "fastapi==0.165.0"),
}

RESOURCES_YAML = """\
Resources:
  Posts:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - AttributeName: id
          AttributeType: S
      KeySchema:
        - AttributeName: id
          KeyType: HASH
  Inbox:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 120
Outputs:
  PostsTable:
    Value: !Ref Posts
"""

PAGE_SPLIT_CODE = f"""\
for number in range({PAGE_SPLIT_ITEMS}):
    app.route(
        f"/catalog/g{{number % 6}}/item{{number}}",
        methods=["GET", "DELETE"],
        function=f"catalog{{number % 3}}",
    )(ok)
"""

# a project locked with uv (``uv lock --offline`` against the folder of the matrix's
# wheel wrote this lock): {wheels} is that folder
PYPROJECT = f"""\
[project]
name = "shop"
version = "1.0"
requires-python = ">=3.11"
dependencies = ["{WHEEL_NAME}==1.0"]

[tool.uv]
find-links = ["{{wheels}}"]
no-index = true
"""
UV_LOCK = f"""\
version = 1
revision = 5
requires-python = ">=3.11"

[[package]]
name = "shop"
version = "1.0"
source = {{ virtual = "." }}
dependencies = [
    {{ name = "{WHEEL_NAME}" }},
]

[package.metadata]
requires-dist = [{{ name = "{WHEEL_NAME}", specifier = "==1.0" }}]

[[package]]
name = "{WHEEL_NAME}"
version = "1.0"
source = {{ registry = "{{wheels}}" }}
wheels = [
    {{ path = "{{wheels}}/{WHEEL_NAME}-1.0-py3-none-any.whl" }},
]
"""

READ_POSTS = {
    "effect": "Allow",
    "actions": ["dynamodb:GetItem"],
    "resources": ["arn:aws:dynamodb:*:*:table/posts"],
}
SEND_MAIL = {"effect": "Allow", "actions": ["ses:SendEmail"], "resources": ["*"]}


def _main(**settings: Any) -> Toml:
    """``[functions.app]``: the base's function (and a framework app's only one)."""
    return {"functions": {"app": settings}}


# ---------------------------------------------------------------- the catalogue

FEATURES: tuple[Feature, ...] = (
    Feature(
        "teal-route",
        "@app.route('/posts/{post_id}', methods=['GET', 'POST'], function='posts')",
        code='app.route("/posts/{post_id}", methods=["GET", "POST"], function="posts")(ok)',
    ),
    Feature(
        "raw-route",
        "@app.route('/hooks/{source}', methods=['POST'], raw=True)",
        code='app.route("/hooks/{source}", methods=["POST"], function="hooks", raw=True)(ok)',
    ),
    Feature(
        "greedy-route",
        "@app.route('/files/{path+}')",
        code='app.route("/files/{path+}", methods=["GET"], function="files")(ok)',
    ),
    Feature("framework-routes", "a Flask app, its routes read", app="flask"),
    Feature(
        "framework-proxy",
        'a FastAPI app, [app] api = "proxy"',
        {"app": {"api": "proxy"}},
        app="fastapi",
    ),
    Feature(
        "function-memory-timeout",
        "[functions.app] memory, timeout",
        _main(memory=1024, timeout=30),
    ),
    Feature(
        "function-environment",
        "[functions.app.environment]",
        _main(environment={"FEATURE_FLAG": "on"}),
    ),
    Feature(
        "app-environment", "[app.environment]", {"app": {"environment": {"LOG_LEVEL": "debug"}}}
    ),
    Feature(
        "secret-references",
        "[app.environment] values from Parameter Store and Secrets Manager",
        {
            "app": {
                "environment": {
                    "DB_URL": {"ssm": "/shop/db-url"},
                    "API_TOKEN": {"secret": "shop/api", "key": "token"},
                }
            }
        },
    ),
    Feature("function-layers", "[functions.app] layers", _main(layers=[LAYER])),
    Feature(
        "function-reserved-concurrency",
        "[functions.app] reserved_concurrency",
        _main(reserved_concurrency=5),
    ),
    Feature(
        "function-warm",
        "[functions.app] warm (execution environments readied before a switch)",
        _main(warm=3),
    ),
    Feature(
        "function-provisioned-concurrency",
        "[functions.app] provisioned_concurrency (on its alias)",
        _main(provisioned_concurrency=2),
    ),
    Feature(
        "function-vpc",
        "[functions.app.vpc] subnets, security_groups",
        _main(vpc={"subnets": ["subnet-0abc1234"], "security_groups": ["sg-0abc1234"]}),
    ),
    Feature("function-policies", "[functions.app] policies", _main(policies=[SEND_MAIL])),
    Feature(
        "app-policies",
        "[app] policies (a statement and a managed policy)",
        {"app": {"policies": [READ_POSTS, "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"]}},
    ),
    Feature(
        "app-cors",
        "[cors] allow_origins",
        {"cors": {"allow_origins": ["https://app.example.com"]}},
    ),
    Feature(
        "route-cors",
        "@app.route('/public', cors=CORSConfig(...))",
        code='app.route("/public", methods=["GET"], function="public", '
        'cors=CORSConfig("https://docs.example.com"))(ok)',
    ),
    Feature(
        "route-cors-off",
        "@app.route('/internal', cors=False)",
        code='app.route("/internal", methods=["GET"], function="internal", cors=False)(ok)',
    ),
    Feature(
        "lambda-authorizer",
        "@app.authorizer('token') on /private",
        code='app.authorizer("token", function="check_token")(on_event)\n'
        'app.route("/private", methods=["GET"], function="private", authorizer="token")(ok)',
    ),
    Feature(
        "request-authorizer",
        "@app.authorizer('tenant', type='REQUEST', identity_sources=[...]) on /tenants",
        code='app.authorizer("tenant", type="REQUEST", '
        'identity_sources=["method.request.header.X-Tenant"], function="check_tenant")(on_event)\n'
        'app.route("/tenants", methods=["GET"], function="tenants", authorizer="tenant")(ok)',
    ),
    Feature(
        "cognito-authorizer",
        "authorizer=CognitoAuthorizer(...) on /members",
        code='app.route("/members", methods=["GET"], function="members", '
        f'authorizer=CognitoAuthorizer("members", ["{USER_POOL}"]))(ok)',
    ),
    Feature(
        "iam-authorizer",
        "authorizer='aws_iam' on /admin",
        code='app.route("/admin", methods=["GET"], function="admin", authorizer="aws_iam")(ok)',
    ),
    Feature(
        "api-key",
        "api_key_required=True on /metered (the API key and its usage plan)",
        code='app.route("/metered", methods=["GET"], function="metered", '
        "api_key_required=True)(ok)",
    ),
    Feature(
        "schedule",
        "@app.schedule('rate(5 minutes)')",
        code='app.schedule("rate(5 minutes)", function="tick")(on_event)',
    ),
    Feature(
        "sqs-consumer",
        "@app.on_sqs_message(queue='jobs'), [queues.jobs] max_receive_count",
        {"queues": {"jobs": {"max_receive_count": 3}}},
        code='app.on_sqs_message(queue="jobs", batch_size=5, function="work")(on_event)',
    ),
    Feature(
        "shared-queue-consumer",
        "@app.on_sqs_message(queue=<an SQS queue's ARN>, shared=True)",
        code=f'app.on_sqs_message(queue="{SHARED_QUEUE}", shared=True, function="audit")(on_event)',
    ),
    Feature(
        "resources-queue-consumer",
        "@app.on_sqs_message(queue='Inbox'), Inbox an AWS::SQS::Queue of [resources]",
        {"resources": {"template": "resources.yaml"}},
        code='app.on_sqs_message(queue="Inbox", function="inbox")(on_event)',
        files={"resources.yaml": RESOURCES_YAML},
    ),
    Feature(
        "resources",
        "[resources] template (a table and an output)",
        {"resources": {"template": "resources.yaml"}},
        files={"resources.yaml": RESOURCES_YAML},
    ),
    Feature("tags", "[app] tags", {"app": {"tags": {"team": "blue"}}}),
    Feature(
        "binary-media-types",
        "[app] binary_media_types",
        {"app": {"binary_media_types": ["image/png", "application/pdf"]}},
    ),
    Feature(
        "requirements",
        'requirements.txt, vendored for Lambda into the dependency layer ([app] cloud = "aws")',
        {"app": {"cloud": "aws"}},
        requirements=(f"{WHEEL_NAME}==1.0",),
    ),
    Feature(
        "uv-lock",
        "pyproject.toml and its uv.lock, the locked versions in the dependency layer "
        '([app] cloud = "aws")',
        {"app": {"cloud": "aws"}},
        files={"pyproject.toml": PYPROJECT, "uv.lock": UV_LOCK},
        locked=True,
    ),
    Feature("arm64", '[app] architecture = "arm64"', {"app": {"architecture": "arm64"}}),
    Feature(
        "custom-domain",
        "[domain] name, base_path, certificate_arn",
        {"domain": {"name": "api.example.com", "base_path": "v1", "certificate_arn": CERTIFICATE}},
    ),
    Feature(
        "preview",
        "teal preview --to <the environment> on the [domain] (a routing rule, made at run time)",
        {"domain": {"name": "api.example.com", "base_path": "v1", "certificate_arn": CERTIFICATE}},
        preview=True,
    ),
    Feature("extra-environment", "--extra pr7 (a parallel copy)", extra="pr7"),
    Feature(
        "env-overrides",
        "--env prod with [env.prod] memory, environment and tags",
        {"env": {"prod": {"memory": 512, "environment": {"STAGE": "prod"}, "tags": {"tier": "1"}}}},
        env="prod",
    ),
    Feature(
        "page-split",
        f"{PAGE_SPLIT_ITEMS} more paths: the API goes to nested stacks",
        code=PAGE_SPLIT_CODE,
    ),
)
BY_NAME = {feature.name: feature for feature in FEATURES}
LOCK_EXCLUDES = sum(1 for f in FEATURES if f.writes_requirements) * sum(
    1 for f in FEATURES if f.locked
)  # the pairs of a locked project and one with a requirements.txt


@dataclass(frozen=True)
class Precedence:
    """Two features setting one property, and the one that wins by design."""

    winner: str
    loser: str  # "*": every feature whose facts hold the property
    property: tuple[str, ...]  # a fact's path between its subject and its value
    why: str


PRECEDENCE = (
    Precedence(
        "arm64",
        "*",
        ("CompatibleArchitectures", "[]"),
        "the dependency layer is built for the functions' architecture",
    ),
    Precedence(
        "arm64",
        "*",
        ("architecture",),
        "the dependency layer holds wheels of the functions' architecture",
    ),
    Precedence(
        "app-cors",
        "route-cors",
        ("ResponseParameters", "gatewayresponse.header.Access-Control-Allow-Origin"),
        "API Gateway's own answers (DEFAULT_4XX, DEFAULT_5XX) carry one CORS config for "
        "the whole API: [cors] when it is set, else the one all CORS routes share",
    ),
    Precedence(
        "function-memory-timeout",
        "env-overrides",
        ("MemorySize",),
        "[functions.NAME] memory is the function's own, over the env's for every function",
    ),
    Precedence(
        "env-overrides",
        "*",
        ("MemorySize",),
        "[env.NAME] memory is the memory of every function of that env, over [app] memory",
    ),
)


def full_app() -> tuple[Feature, ...]:
    """Every feature a teal App can have, at once (all but the frameworks' apps, and
    the uv.lock project's: its dependencies come from requirements.txt)."""
    return tuple(feature for feature in FEATURES if feature.app is None and not feature.locked)


def pairs() -> Iterator[tuple[Feature, Feature]]:
    """Every pair of features one project can declare together."""
    for first, second in itertools.combinations(FEATURES, 2):
        if combinable(first, second):
            yield first, second


# ---------------------------------------------------------------- the project's files


@dataclass(frozen=True)
class ProjectFiles:
    """A project as files, and the flags a command is given."""

    files: Mapping[str, str]
    env: str | None = None
    extra: str | None = None

    def write(self, folder: Path) -> None:
        """Make ``folder`` hold exactly these files (and what the app's import left)."""
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.iterdir():
            if stale.is_file() and stale.name not in self.files:
                stale.unlink()
        for name, text in self.files.items():
            (folder / name).write_text(text, encoding="utf-8")


def project_of(features: tuple[Feature, ...], wheels: Path) -> ProjectFiles:
    toml: dict[str, Any] = {}
    for source in [BASE_TOML, *(f.toml for f in features)]:
        _merge(toml, source, "")
    kinds = {f.app for f in features if f.app is not None}
    assert len(kinds) <= 1, f"one project has one app: {kinds}"
    requirements = [line for f in features for line in f.requirements]
    if kinds:
        source, requirement = FRAMEWORK_APPS[kinds.pop()]
        requirements.insert(0, requirement)
    else:
        source = "\n".join([TEAL_APP, *(f.code for f in features if f.code)]) + "\n"
    files = {"teal.toml": to_toml(toml), "app.py": source}
    for feature in features:
        files.update(
            {name: text.replace("{wheels}", str(wheels)) for name, text in feature.files.items()}
        )
    if requirements:
        if any(r.startswith(WHEEL_NAME) for r in requirements):
            requirements.insert(0, f"--find-links {wheels}")
        files["requirements.txt"] = "\n".join(requirements) + "\n"
    envs = {f.env for f in features} - {None}
    extras = {f.extra for f in features} - {None}
    assert len(envs) <= 1 and len(extras) <= 1, "one command names one env and one extra"
    return ProjectFiles(files, next(iter(envs), None), next(iter(extras), None))


def _merge(into: dict[str, Any], source: Toml, where: str) -> None:
    for key, value in source.items():
        here = f"{where}.{key}" if where else key
        if isinstance(value, Mapping) and isinstance(into.get(key, {}), dict):
            _merge(into.setdefault(key, {}), value, here)
        else:
            assert into.get(key, value) == value, f"two features set {here} differently"
            into[key] = value


def to_toml(document: Toml) -> str:
    """teal.toml's text for a document of tables, strings, numbers and lists."""
    lines: list[str] = []
    _write_table(document, (), lines)
    return "\n".join(lines).strip() + "\n"


def _write_table(table: Toml, name: tuple[str, ...], lines: list[str]) -> None:
    plain = {k: v for k, v in table.items() if not isinstance(v, Mapping)}
    if name and plain:
        lines.append(f"\n[{'.'.join(name)}]")
    lines.extend(f"{key} = {_toml_value(value)}" for key, value in plain.items())
    for key, value in table.items():
        if isinstance(value, Mapping):
            _write_table(value, (*name, key), lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: the same escapes as JSON's
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {value!r}")


# ---------------------------------------------------------------- synthesis


@dataclass(frozen=True)
class Synthesis:
    """What teal derives from one project for a deploy of its environment."""

    target: Target
    table: RouteTable
    package: Package
    synthesized: Synthesized
    request: StackRequest
    domain: dict[str, Any] | None = None  # the domain's own stack
    # a replacement behind the live domain: the next API's templates, and the union
    replacement: Synthesized | None = None
    side_by_side: dict[str, Any] | None = None
    previewed: bool = False  # the environment is previewed on its domain: PREVIEW

    def templates(self, replacement_pages: bool = True) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every template a deploy of this project applies, named (the next API's pages
        are the current ones' with a generation suffix: ``replacement_pages=False``
        leaves them out)."""
        yield "main", self.synthesized.template
        for key, page in sorted(self.synthesized.nested_by_logical_id.items()):
            yield f"page {key}", page
        if self.domain is not None:
            yield "domain", self.domain
        if self.side_by_side is not None:
            yield "side by side", self.side_by_side
        if self.replacement is not None and replacement_pages:
            for key, page in sorted(self.replacement.nested_by_logical_id.items()):
                yield f"replacement page {key}", page


Introspect = Callable[[RuntimeWorld, str, Path], dict[str, Any]]


@contextmanager
def matrix_in(folder: Path) -> Iterator[Matrix]:
    """A :class:`Matrix` writing its projects under ``folder``, the loader's import of
    the app reused while it is open (and the requirements' wheel in a folder of its
    own, vendored into a cache there)."""
    wheels = folder / "wheels"
    wheels.mkdir()
    wheel(wheels, WHEEL_NAME, "1.0")
    found = Matrix(folder / "shop", wheels, loader.import_app)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(folder / "cache"))
        patch.setattr(loader, "import_app", found.introspect)
        yield found


class Matrix:
    """Projects written into one folder and read as ``teal template`` reads them.

    Every project is written into the same folder, so that what the app's
    import reports is a function of the files alone: the loader's child
    import (:func:`teal.project.importing.import_app`) is run once for each
    distinct app module and requirements, and its answer reused for the
    projects that only differ in teal.toml; everything else runs each time.
    """

    def __init__(self, folder: Path, wheels: Path, introspect: Introspect) -> None:
        self.folder = folder
        self.wheels = wheels
        self._introspect = introspect
        self._imports: dict[tuple[str, ...], dict[str, Any]] = {}
        self.imports_run = 0

    def introspect(self, world: RuntimeWorld, entry: str, root: Path) -> dict[str, Any]:
        """The loader's import of the app, once per app module and installed requirements."""
        key = (
            entry,
            *map(str, world.paths[1:]),
            (self.folder / "app.py").read_text(encoding="utf-8"),
        )
        if key not in self._imports:
            self.imports_run += 1
            self._imports[key] = self._introspect(world, entry, root)
        return json.loads(json.dumps(self._imports[key]))  # a copy: the loader's own

    def synthesis(self, *features: Feature) -> Synthesis:
        project = project_of(features, self.wheels)
        project.write(self.folder)
        _, target = load_target(self.folder, project.env, project.extra, None)
        table = loader.target_routes(target)
        package = package_for(target)
        target = with_layers(target, package)  # as prepare() does
        synthesized = synthesize(table, target, package.key)
        request = StackRequest.of_environment(target, synthesized.template, BUCKET)
        if target.domain is None:
            return Synthesis(target, table, package, synthesized, request)
        replacement = synthesize(
            table, target, package.key, next_rest_api_logical_id(REST_API_BASE), synthesized
        )
        union = combine_for_switch(synthesized.template, replacement.template)
        domain = domain_template(target.domain)
        previewed = any(f.preview for f in features)
        return Synthesis(
            target, table, package, synthesized, request, domain, replacement, union, previewed
        )

    @functools.cache  # noqa: B019 (one Matrix per test session)
    def facts(self, names: frozenset[str]) -> frozenset[Fact]:
        return frozenset(facts_of(self.synthesis(*features_named(names))))

    def base_facts(self) -> frozenset[Fact]:
        return self.facts(frozenset())

    def fingerprint(self, name: str) -> frozenset[Fact]:
        """What the feature adds to the base project's facts, alone."""
        return self.facts(frozenset({name})) - self.base_facts()


def features_named(names: frozenset[str]) -> tuple[Feature, ...]:
    """The features of ``names``, in the catalogue's order."""
    return tuple(feature for feature in FEATURES if feature.name in names)


# ---------------------------------------------------------------- facts


def facts_of(result: Synthesis) -> set[Fact]:
    """Everything of :class:`Synthesis` as facts (the replacement's are checked apart:
    :func:`replacement_gaps`)."""
    target, request = result.target, result.request
    found = _template_facts(result.synthesized, result, REST_API_BASE)
    found.add(("stack", "named as the environment", str(request.name == target.environment)))
    words = _words(result)
    found |= {("stack tag", key, words(value)) for key, value in request.tags.items()}
    found |= {("stack parameter", key, words(value)) for key, value in request.parameters.items()}
    # what travels in the package (the project's own files and teal's runtime), and in
    # the dependency layer of each architecture (its packages, and their machine)
    found |= {("package", "holds", path.split("/")[0]) for path in result.package.files}
    found |= {fact for layer in result.package.layers for fact in _layer_facts(layer)}
    if result.domain is not None:
        found |= Facts("domain ", result.domain, {}).facts()
    if target.domain is not None:
        found.add(("domain", "serves", target.domain.name, target.domain.base_path))
    if result.previewed:
        found |= preview_facts(result, result.synthesized, REST_API_BASE)
    return found | _policy_facts(result)


def _layer_facts(layer: LayerPackage) -> set[Fact]:
    """The packages of a dependency layer (its zip on AWS, the installed folder locally),
    and the machine of each compiled extension in it."""
    files = vendored_files(layer.folder)
    found: set[Fact] = {
        ("dependency layer", "holds", name.split("/")[0])
        for name in files
        if not name.startswith(".")
    }
    found.add(("dependency layer", "architecture", layer.architecture))
    machines = {elf_machine(path) for path in files.values()} - {None}
    found |= {("dependency layer", "ELF machine", str(machine)) for machine in machines}
    return found


POLICY_REGION, POLICY_ACCOUNT = "eu-west-1", "123456789012"


def _policy_facts(result: Synthesis) -> set[Fact]:
    """What ``teal aws policy`` grants a deploy identity for this project, against what its
    stacks hold: each resource type with every action CloudFormation's handlers of the
    type call, and each layer its functions use ("NOT covered": a deploy would fail)."""
    scope = project_scope(load_project(result.target.project_dir), POLICY_REGION, POLICY_ACCOUNT)
    policy = deploy_policy(scope)
    granted, known = policy.actions(), set(resource_types(scope))
    kinds = {
        str(resource["Type"])
        for _, template in result.templates()
        for resource in template.get("Resources", {}).values()
    }
    found: set[Fact] = set()
    for kind in kinds:
        covered = kind in known and handler_actions(kind, scope.in_vpc) <= granted
        found.add(("deploy policy", kind, "covered" if covered else "NOT covered"))
    layers = {layer for f in result.target.functions.values() for layer in f.layers}
    layers |= {  # the dependency layers, by the ARN of a version of theirs
        f"arn:aws:lambda:{POLICY_REGION}:{POLICY_ACCOUNT}:layer:{resource['Properties']['LayerName']}:1"
        for _, template in result.templates()
        for resource in template.get("Resources", {}).values()
        if resource["Type"] == "AWS::Lambda::LayerVersion"
    }
    for layer in layers:
        reads = any(
            "lambda:GetLayerVersion" in statement.actions
            and any(fnmatch.fnmatchcase(layer, granted) for granted in statement.resources)
            for statement in policy.statements
        )
        named = layer.replace(result.target.environment, "{environment}")
        found.add(("deploy policy", "layer", named, "covered" if reads else "NOT covered"))
    return found


def replacement_gaps(result: Synthesis) -> set[Fact]:
    """What the next API's generation lacks of the current one's, or has besides (none,
    when a replacement behind the domain keeps every feature)."""
    assert result.replacement is not None
    current = _template_facts(result.synthesized, result, REST_API_BASE)
    rotated = next_rest_api_logical_id(REST_API_BASE)
    following = _template_facts(result.replacement, result, rotated, generation="-g1")
    if result.previewed:
        current |= preview_facts(result, result.synthesized, REST_API_BASE)
        following |= preview_facts(result, result.replacement, rotated)
    return current ^ following


def _template_facts(
    synthesized: Synthesized, result: Synthesis, rest_api: str, generation: str = ""
) -> set[Fact]:
    replace = [(result.package.key, "{code}"), (result.target.environment, "{environment}")]
    # a layer's key is a hash of the pins: what it holds are the "dependency layer" facts
    replace += [(layer.key, "{dependency layer zip}") for layer in result.package.layers]
    if generation:
        replace.append((generation, ""))
    return Facts(
        "",
        synthesized.template,
        synthesized.nested_by_logical_id,
        tuple(replace),
        {rest_api: "{rest api}"},
    ).facts()


def _words(result: Synthesis) -> Callable[[str], str]:
    return lambda value: value.replace(result.package.key, "{code}").replace(
        result.target.environment, "{environment}"
    )


# ---------------------------------------------------------------- previews


def preview_facts(result: Synthesis, synthesized: Synthesized, rest_api: str) -> set[Fact]:
    """The routing rule ``teal preview --to <this environment>`` makes on the domain, read
    the way the command reads it, from the stack's outputs once the template is deployed
    (:func:`deployed_as`), and the deploy policy's grants for every AWS call a preview
    makes (:func:`preview_calls`).

    The rule is no part of any template, so what a preview keeps beside another feature
    is whether the template still lets it work: the rule sends to a stage of the API
    this synthesis names (``{rest api}``: after a replacement, the next one), under the
    base path, with a header whose value ``--to`` reads back as this environment, and
    ``teal preview`` finds it again as the preview of this environment."""
    target, spec = result.target, result.target.domain
    assert spec is not None, "a preview needs a domain: the preview feature declares one"
    environment = Environment.from_stack(deployed_as(result, synthesized))
    assert environment.api_id is not None and environment.stage is not None
    base = replace(target, extra=None)
    goal = resolve_switch_target(base, target.extra or "base")
    rule = preview_rule(
        spec, environment.api_id, environment.stage, header_value(goal), free_priority(())
    )
    words = _words(result)
    (header, value), *others = rule.headers
    named = resolve_switch_target(base, value).environment
    reads_back = is_preview_rule(rule, spec) and rule.api_id in environment.api_ids
    found: set[Fact] = {
        ("preview rule", "sends to", _stage_of(synthesized.template, rule, rest_api)),
        ("preview rule", "header", header, "--to names", words(named)),
        ("preview rule", "other headers", str(len(others))),
        ("preview rule", "base paths", *(rule.base_paths or ("none",))),
        ("preview rule", "strips the base path", str(rule.strip_base_path)),
        ("preview rule", "priority", str(rule.priority)),
        ("preview rule", "read back as the preview of", words(environment.name), str(reads_back)),
    }
    return found | _preview_policy_facts(result, spec.name)


def deployed_as(result: Synthesis, synthesized: Synthesized) -> DeployedStack:
    """The stack as the cloud would describe it after the deploy: its outputs hold what
    CloudFormation answers for them (a stage's Ref is its name; any other resource's
    physical id is written ``<logical id>``)."""
    resources = synthesized.template.get("Resources", {})

    def answered(value: Any) -> str | None:
        if isinstance(value, str):
            return value
        ref = value.get("Ref") if isinstance(value, dict) else None
        if ref not in resources:
            return None  # a Sub or an attribute: not what a preview reads
        body = resources[ref]
        if body["Type"] == "AWS::ApiGateway::Stage":
            return str(body["Properties"]["StageName"])
        return f"<{ref}>"

    outputs = {
        name: found
        for name, output in synthesized.template.get("Outputs", {}).items()
        if (found := answered(output["Value"])) is not None
    }
    return DeployedStack(
        result.target.environment,
        "CREATE_COMPLETE",
        synthesized.template,
        outputs,
        result.request.tags,
        nested_templates=synthesized.nested_by_logical_id,
    )


def _stage_of(template: dict[str, Any], rule: RoutingRule, rest_api: str) -> str:
    """Which of the template's stages the rule's action invokes."""
    for body in template.get("Resources", {}).values():
        props = body.get("Properties", {})
        if (
            body["Type"] == "AWS::ApiGateway::Stage"
            and props.get("StageName") == rule.stage
            and f"<{props.get('RestApiId', {}).get('Ref')}>" == rule.api_id
        ):
            api = props["RestApiId"]["Ref"]
            return f"the stage of {'{rest api}' if api == rest_api else api}"
    return f"no stage of the template ({rule.api_id} {rule.stage})"


def _preview_policy_facts(result: Synthesis, domain: str) -> set[Fact]:
    """Whether `teal aws policy` grants each AWS call a preview makes, on what it touches."""
    scope = project_scope(load_project(result.target.project_dir), POLICY_REGION, POLICY_ACCOUNT)
    policy = deploy_policy(scope)
    found: set[Fact] = set()
    for service, operation, touched in preview_calls(domain):
        call = TEAL_CALLS.get((service, operation))
        covered = call is not None and any(
            call.action in statement.actions
            and any(fnmatch.fnmatchcase(touched, granted) for granted in statement.resources)
            for statement in policy.statements
        )
        verdict = "covered" if covered else "NOT covered"
        found.add(("deploy policy", "preview", f"{service} {operation}", verdict))
    return found


PREVIEW_DOMAIN_ARN = "arn:aws:apigateway:{region}::/domainnames"  # API Gateway's form


@functools.cache
def preview_calls(domain: str) -> tuple[tuple[str, str, str], ...]:
    """Every AWS call a preview's routing code makes, each with the ARN it touches:
    :class:`teal.cloud.aws.routing.RoutingRules` run through its steps (the routing mode,
    a rule made, listed and deleted, and the deletion guard's look-up of the rules that
    send to an API), with botocore's Stubber answering and its hook recording."""
    session = botocore.session.get_session()
    made = [
        session.create_client(
            service,
            region_name=POLICY_REGION,
            aws_access_key_id="matrix",
            aws_secret_access_key="matrix",
        )
        for service in ("apigateway", "apigatewayv2")
    ]
    gateway, v2 = made
    calls: list[tuple[str, str, str]] = []
    collection = PREVIEW_DOMAIN_ARN.format(region=POLICY_REGION)

    def seen(model: Any, params: dict[str, Any], **_: Any) -> None:
        named = params.get("DomainName") or params.get("domainName")
        touched = f"{collection}/{named}" if named else collection
        if "RoutingRuleId" in params:
            touched += f"/routingrules/{params['RoutingRuleId']}"
        calls.append((model.service_model.service_name, model.name, touched))

    for client in made:
        client.meta.events.register_first("before-parameter-build", seen)
    rule = preview_rule(DomainSpec(domain, "v1", CERTIFICATE), "a1", "dev", "pr7", 100)
    answer = {
        "Actions": [{"InvokeApi": {"ApiId": "a1", "Stage": "dev", "StripBasePath": True}}],
        "Conditions": [
            {"MatchHeaders": {"AnyOf": [{"Header": PREVIEW_HEADER, "ValueGlob": "pr7"}]}}
        ],
        "Priority": 100,
        "RoutingRuleId": "r1",
    }
    with Stubber(gateway) as gateway_answers, Stubber(v2) as v2_answers:
        gateway_answers.add_response("get_domain_name", {"domainName": domain})
        gateway_answers.add_response("update_domain_name", {"domainName": domain})
        mode = {"domainName": domain, "routingMode": RULES_THEN_MAPPINGS}
        gateway_answers.add_response("get_domain_names", {"items": [mode]})
        v2_answers.add_response("create_routing_rule", answer)
        for _ in range(2):
            v2_answers.add_response("list_routing_rules", {"RoutingRules": [answer]})
        v2_answers.add_response("delete_routing_rule", {})
        rules = RoutingRules(gateway, v2, Retrier())
        rules.allow(domain)
        made_rule = rules.create(domain, rule)
        assert rules.of_domain(domain) == [made_rule]
        assert rules.of_api("a1") == [(domain, made_rule)]
        rules.delete(domain, made_rule.id)
    return tuple(calls)
