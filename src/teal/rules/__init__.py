"""AWS's rules, as teal needs them: data and pure functions. No cloud, no network: at most
the provider schemas cfn-lint ships are read.

API Gateway's (its resource tree, its messages, the proxy event a REST API
sends), EventBridge's schedule expressions, Lambda's log lines, the
create-only properties of the provider schemas, and the labels (tags and stack
outputs) teal puts on what it deploys. The analysis predicts with them and the
local cloud enforces them, so prediction and rehearsal agree by construction.
"""
