"""The local Lambda: worker processes, their execution environment and their log files."""
