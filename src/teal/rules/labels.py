"""The labels by which teal knows what it deployed: tags and stack outputs.

The project's config writes the tags, synthesis writes the outputs, and the
operations and both clouds read them; so they are defined here, once, below
all of them. A stack whose ``teal:app`` tag names the app is one of its
environments; a domain's own stack (on AWS) carries ``teal:domain`` too.
"""

from __future__ import annotations

import re

APP_TAG = "teal:app"
ENV_TAG = "teal:env"
EXTRA_TAG = "teal:extra"
ENVIRONMENT_TAG = "teal:environment"
DOMAIN_TAG = "teal:domain"  # a domain's own stack, which shares the app tag but is no environment
BOOTSTRAP_TAG = "teal:bootstrap"  # the app's CI stack (deploy role): no app tag, no environment
DEPLOY_ROLE_OUTPUT = "DeployRoleArn"  # the bootstrap stack's role, for CI to assume
RESERVED_TAG_PREFIXES = ("aws:", "teal:")  # AWS's and teal's: a user's tag takes neither

REST_API_OUTPUT = "RestApiId"
STAGE_OUTPUT = "StageName"
API_KEY_OUTPUT = "ApiKeyId"
# The previous API, while a replacement is between its steps (see template/combine.py).
RETIRING_API_OUTPUT = "RetiringRestApiId"

# The logical ids teal gives what it writes into an environment's stack, in every
# generation of its API (``RestApi``, ``RestApi1``...; a ``G1`` suffix on what the
# API owns): a fixed word, or a word, a readable stem and a hash of the name it
# stands for. A [resources] template's resource in one of these families is refused
# when the project is read, not first when a replacement writes the next
# generation's ids (teal.project.resources_file); tests/test_feature_matrix.py
# holds every id synthesis writes, in three generations, to these families.
_HASHED = "[A-Za-z0-9]*[0-9a-f]{8}[A-Za-z0-9]*"  # a stem, a hash, a suffix (Role, G1...)
_GENERATION = "(?:G[0-9]+)?"
TEAL_LOGICAL_ID = re.compile(
    "|".join(
        (
            "RestApi[0-9]*",
            f"Stage{_GENERATION}",
            "Deployment[0-9a-f]{12}R?",
            f"ApiPage[0-9]+{_GENERATION}",
            "ApiKey",
            f"UsagePlan(?:Key)?{_GENERATION}",
            f"GatewayResponse[A-Za-z0-9]+{_GENERATION}",
            "EnvironmentLogs",
            f"DependencyLayer(?:Arm64)?{_GENERATION}",
            f"(?:Fn|Res|Method|Authorizer|Queue){_HASHED}",
        )
    )
)
# The outputs teal writes besides these ids' (``Fn...Name``): the retiring one only while
# a replacement of the API is between its steps.
TEAL_OUTPUTS = frozenset({REST_API_OUTPUT, STAGE_OUTPUT, API_KEY_OUTPUT, RETIRING_API_OUTPUT})
