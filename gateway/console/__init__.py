"""The operator console `/console/` and the operator accounts behind the admin REST API (docs/CONSOLE.md)."""
