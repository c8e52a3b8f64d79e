"""AwsCloud: the Cloud seam on AWS, composed of one small part per concern."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from teal.cloud.aws import queues, secret_checks
from teal.cloud.aws.artifacts import ArtifactBucket, Progress, bucket_name
from teal.cloud.aws.changesets import ChangeSets
from teal.cloud.aws.domains import Domains
from teal.cloud.aws.failures import translated
from teal.cloud.aws.functions import Functions
from teal.cloud.aws.history import S3History
from teal.cloud.aws.locks import S3Locks
from teal.cloud.aws.logs import CloudWatchLogs
from teal.cloud.aws.metrics import CLOUDWATCH_TIMING, Metrics
from teal.cloud.aws.nested import NestedBundles
from teal.cloud.aws.retry import Backoff, Retrier, Sleep
from teal.cloud.aws.routing import RoutingRules
from teal.cloud.aws.session import AwsClients, open_session
from teal.cloud.aws.stacks import Stacks
from teal.cloud.aws.warming import Warming
from teal.cloud.aws.watch_alarms import WatchAlarms
from teal.cloud.base import (
    AliasState,
    ApiKeyInfo,
    BasePathMapping,
    ChangeSet,
    Cloud,
    DeployedStack,
    DomainInfo,
    EventSink,
    HeldLock,
    HistoryEntry,
    Invocation,
    LockOwner,
    LogPage,
    LogQuery,
    PlanSummary,
    RoutingRule,
    SentMessage,
    ServingHealth,
    StackRequest,
    StackResult,
    StageRef,
    Traffic,
    VersionRef,
    Warmed,
)
from teal.project.config import DomainSpec
from teal.rules.apigateway import stage_endpoint
from teal.rules.labels import DOMAIN_TAG
from teal.rules.watch_rules import WatchGuard
from teal.runtime.secrets import Reference

# How often a running stack operation is polled: soon at first, then every 10 s.
STACK_POLL = Backoff(first=2.0, factor=1.5, cap=10.0)


class AwsCloud:
    """teal's Cloud on AWS: CloudFormation, S3, API Gateway (and Route 53 via stacks)."""

    name = "aws"
    has_change_sets = True
    traffic_timing = CLOUDWATCH_TIMING

    def __init__(
        self,
        clients: AwsClients,
        *,
        sleep: Sleep = time.sleep,
        poll: Backoff = STACK_POLL,
    ) -> None:
        self.region = clients.region
        self.account_id = clients.account_id
        self.clients = clients
        retry = Retrier(sleep=sleep)
        self._bucket = ArtifactBucket(
            clients.s3,
            bucket_name(clients.account_id, clients.region),
            clients.region,
            clients.endpoint_url,
            retry,
        )
        change_sets = ChangeSets(clients.cloudformation, self._bucket, retry, poll)
        self._bundles = NestedBundles(clients.s3, self._bucket, retry)
        self._stacks = Stacks(clients.cloudformation, change_sets, retry, poll, self._bundles)
        self._domains = Domains(clients.apigateway, self._stacks, retry)
        self._rules = RoutingRules(clients.apigateway, clients.apigatewayv2, retry)
        self._locks = S3Locks(clients.s3, self._bucket, retry)
        self._history = S3History(clients.s3, self._bucket, retry)
        self._logs = CloudWatchLogs(clients.logs)
        self._functions = Functions(clients.lambda_, retry)
        self._warming = Warming(clients.lambda_)
        self._metrics = Metrics(clients.cloudwatch, retry)
        self._alarms = WatchAlarms(clients.cloudwatch, retry)

    @classmethod
    def from_settings(
        cls, region: str | None, profile: str | None, endpoint_url: str | None = None
    ) -> AwsCloud:
        """Resolve credentials (default chain, profile, env) and prove them; no other work."""
        return cls(open_session(region, profile, endpoint_url))

    # Artifacts.

    @property
    def artifact_bucket(self) -> str:
        return self._bucket.name

    def ensure_artifact_bucket(self) -> None:
        """Make the bucket (private, encrypted, versioned) unless it exists."""
        with translated(self._bucket.name):
            self._bucket.ensure()

    def has_artifact(self, key: str) -> bool:
        with translated(key):
            return self._bucket.has(key)

    def put_artifact(self, key: str, data: bytes, progress: Progress | None = None) -> None:
        with translated(key):
            self._bucket.put(key, data, progress)
        self._bundles.remember(key, data)

    def delete_artifact(self, key: str) -> None:
        with translated(key):
            self._bucket.delete(key)

    def artifact_url(self, key: str) -> str:
        """Where CloudFormation reads an artifact (e.g. a nested template) from."""
        return self._bucket.url(key)

    # Stacks.

    def describe_stack(self, name: str) -> DeployedStack | None:
        with translated(name):
            return self._stacks.describe(name)

    def list_stacks(self, tag_filter: Mapping[str, str]) -> list[DeployedStack]:
        with translated("cloudformation"):
            # Environments only: a domain's own stack carries the app's tag too.
            return self._stacks.matching(tag_filter, unless_tagged=DOMAIN_TAG)

    def change_set(self, request: StackRequest) -> ChangeSet:
        """CloudFormation's own view of the change (with Replacement); changes nothing."""
        with translated(request.name):
            return self._stacks.change_set_for(request)

    def apply_stack(self, request: StackRequest, on_event: EventSink) -> StackResult:
        with translated(request.name):
            return self._stacks.apply(request, on_event)

    def delete_stack(self, name: str, on_event: EventSink) -> None:
        with translated(name):
            self._stacks.delete(name, on_event)

    # API Gateway.

    def endpoint_url(self, api_id: str, stage: str) -> str:
        return stage_endpoint(api_id, self.region, stage)

    def api_key(self, key_id: str) -> ApiKeyInfo:
        """Where the key's value is: teal does not read secrets it has no need of."""
        command = (
            f"aws apigateway get-api-key --api-key {key_id} --include-value --query value "
            f"--output text --region {self.region}"
        )
        return ApiKeyInfo(key_id, None, f"generated by API Gateway; read it with: {command}")

    # Custom domains.

    def ensure_domain(self, spec: DomainSpec, tags: Mapping[str, str]) -> DomainInfo:
        with translated(spec.name):
            return self._domains.ensure(spec, tags)

    def get_domain(self, name: str) -> DomainInfo | None:
        with translated(name):
            return self._domains.get(name)

    def get_mapping(self, domain: str, base_path: str) -> BasePathMapping | None:
        with translated(domain):
            return self._domains.get_mapping(domain, base_path)

    def create_mapping(self, mapping: BasePathMapping) -> None:
        with translated(mapping.domain):
            self._domains.create_mapping(mapping)

    def update_mapping(self, mapping: BasePathMapping) -> None:
        with translated(mapping.domain):
            self._domains.update_mapping(mapping)

    def delete_mapping(self, domain: str, base_path: str) -> None:
        with translated(domain):
            self._domains.delete_mapping(domain, base_path)

    def mappings_of_api(self, api_id: str) -> list[BasePathMapping]:
        with translated(api_id):
            return self._domains.mappings_of_api(api_id)

    def list_mappings(self, domain: str) -> list[BasePathMapping]:
        with translated(domain):
            return self._domains.mappings(domain)

    def list_domains(self) -> list[DomainInfo]:
        with translated("apigateway"):
            return self._domains.all()

    def delete_domain(self, name: str, on_event: EventSink) -> None:
        with translated(name):
            self._domains.delete(name, on_event)

    # Routing rules of custom domains.

    def allow_routing_rules(self, domain: str) -> None:
        with translated(domain):
            self._rules.allow(domain)

    def list_routing_rules(self, domain: str) -> list[RoutingRule]:
        with translated(domain):
            return self._rules.of_domain(domain)

    def create_routing_rule(self, domain: str, rule: RoutingRule) -> RoutingRule:
        with translated(domain):
            return self._rules.create(domain, rule)

    def delete_routing_rule(self, domain: str, rule_id: str) -> None:
        with translated(domain):
            self._rules.delete(domain, rule_id)

    def rules_of_api(self, api_id: str) -> list[tuple[str, RoutingRule]]:
        with translated(api_id):
            return self._rules.of_api(api_id)

    # Locks and history.

    def acquire_lock(self, key: str, owner: LockOwner) -> None:
        with translated(key):
            self._locks.acquire(key, owner)

    def renew_lock(self, key: str, owner: LockOwner) -> bool:
        with translated(key):
            return self._locks.renew(key, owner)

    def release_lock(self, key: str, owner: LockOwner) -> None:
        with translated(key):
            self._locks.release(key, owner)

    def break_lock(self, key: str, holder: LockOwner | None = None) -> LockOwner | None:
        with translated(key):
            return self._locks.break_(key, holder)

    def list_locks(self) -> list[HeldLock]:
        with translated("locks"):
            return self._locks.list()

    def record_history(self, app: str, entry: HistoryEntry) -> None:
        with translated(app):
            self._history.record(app, entry)

    def read_history(self, app: str) -> list[HistoryEntry]:
        with translated(app):
            return self._history.read(app)

    def ensure_serving(self) -> None:
        """AWS serves by itself."""

    def serving_health(self) -> ServingHealth | None:
        """API Gateway is AWS's to keep up: nothing of teal's serves."""
        return None

    # What functions do.

    def read_logs(self, query: LogQuery) -> Iterator[LogPage]:
        pages = self._logs.read(query)
        while True:
            with translated(query.group):
                page = next(pages, None)
            if page is None:
                return
            yield page

    def invoke_function(self, name: str, event: Any) -> Invocation:
        with translated(name):
            return self._functions.invoke(name, event)

    def missing_references(self, references: Sequence[Reference]) -> list[str]:
        return secret_checks.missing_references(self.clients, references)

    def warm_function(self, name: str, concurrency: int, alias: str) -> Warmed:
        qualifier = alias if self.function_aliases([name], alias) else None
        with translated(name):
            return self._warming.warm(name, concurrency, qualifier)

    def peak_concurrency(self, names: Sequence[str], window_s: int) -> dict[str, int]:
        with translated("cloudwatch"):
            return self._metrics.peak_concurrency(names, window_s)

    def record_project(self, environment: str, env: str, root: Path) -> None:
        """Nothing: AWS's console runs no command of teal's."""

    def record_plan(self, environment: str, plan: PlanSummary) -> None:
        """Nothing: AWS's console shows no plan of teal's."""

    def send_message(self, stack: str, queue: str, body: str) -> SentMessage:
        return queues.send_message(self.clients, stack, queue, body)

    def traffic(self, stages: Sequence[StageRef], window_s: int) -> list[Traffic]:
        with translated("cloudwatch"):
            return self._metrics.traffic(stages, window_s)

    def guard_watch(self, spec: DomainSpec, guard: WatchGuard) -> None:
        with translated(spec.name):
            self._alarms.arm(guard, self._domains.guard_function_arn(spec))

    def unguard_watch(self, guard: WatchGuard) -> None:
        with translated(guard.domain):
            self._alarms.disarm(guard)

    def traffic_since(self, stages: Sequence[StageRef], since: datetime) -> list[Traffic]:
        with translated("cloudwatch"):
            return self._metrics.traffic_since(stages, since)

    def version_traffic_since(self, versions: Sequence[VersionRef], since: datetime) -> Traffic:
        with translated("cloudwatch"):
            return self._metrics.version_traffic_since(versions, since)

    def function_aliases(self, functions: Sequence[str], alias: str) -> dict[str, AliasState]:
        """One GetAlias per function (Lambda has no call for many)."""
        found: dict[str, AliasState] = {}
        with translated("lambda"):
            for function in functions:
                try:
                    answer = self.clients.lambda_.get_alias(FunctionName=function, Name=alias)
                except self.clients.lambda_.exceptions.ResourceNotFoundException:
                    continue
                weights = answer.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})
                canary = next(iter(weights.items()), None)
                found[function] = AliasState(
                    answer["FunctionVersion"],
                    canary[0] if canary else None,
                    round(canary[1] * 100, 2) if canary else None,
                )
        return found


if TYPE_CHECKING:

    def _conforms(cloud: AwsCloud) -> Cloud:
        """mypy checks here that AwsCloud implements every method of the Cloud seam."""
        return cloud
