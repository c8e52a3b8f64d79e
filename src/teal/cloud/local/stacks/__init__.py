"""The local CloudFormation: stack operations over resource providers, in the store."""
