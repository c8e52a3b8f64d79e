"""CloudFormation synthesis: app routes + target -> template dicts (pure)."""

from teal.template.names import next_rest_api_logical_id
from teal.template.pages import TemplateLimitError
from teal.template.synth import (
    ARTIFACT_BUCKET,
    DeployedTemplates,
    StoredTemplates,
    Synthesized,
    current_rest_api_logical_id,
    deployment_id,
    nested_keys,
    synthesize,
)
from teal.template.types import Template

__all__ = [
    "ARTIFACT_BUCKET",
    "DeployedTemplates",
    "StoredTemplates",
    "Synthesized",
    "Template",
    "TemplateLimitError",
    "current_rest_api_logical_id",
    "deployment_id",
    "nested_keys",
    "next_rest_api_logical_id",
    "synthesize",
]
