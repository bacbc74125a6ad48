"""Stand-in schemathesis: specs.openapi."""
