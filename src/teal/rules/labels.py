"""The labels by which teal knows what it deployed: tags and stack outputs.

The project's config writes the tags, synthesis writes the outputs, and the
operations and both clouds read them; so they are defined here, once, below
all of them. A stack whose ``teal:app`` tag names the app is one of its
environments; a domain's own stack (on AWS) carries ``teal:domain`` too.
"""

from __future__ import annotations

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
