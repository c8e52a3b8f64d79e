"""The embedded local cloud: CloudFormation-faithful stacks, API Gateway, Lambda workers."""
