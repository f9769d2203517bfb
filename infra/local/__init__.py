"""Local emulators of the AWS pieces BorgOS runs on (docs/architecture.md, "Local stack")."""
