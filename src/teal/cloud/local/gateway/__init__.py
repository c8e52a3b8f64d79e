"""The gateway process, and the local API Gateway it serves.

API Gateway's control plane (RestApis, deployments, stages, domains,
mappings and routing rules) lives in the store; the data plane is the
gateway process: its HTTP server, request handling, authorizers and API keys,
and the traffic it counts.
"""
