"""The project scanner: runs on the worker host that holds the project's files (docs/scanning.md)."""
