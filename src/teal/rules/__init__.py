"""AWS's rules, as teal needs them: data and pure functions, no I/O.

API Gateway's (its resource tree, its messages, the proxy event a REST API
sends), EventBridge's schedule expressions, and the create-only properties of
the provider schemas. The analysis predicts with them and the local cloud
enforces them, so prediction and rehearsal agree by construction.
"""
