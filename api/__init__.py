"""The only entry points: the CLI and the HTTP API."""
