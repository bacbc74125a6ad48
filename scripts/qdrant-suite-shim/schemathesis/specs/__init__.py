"""Stand-in schemathesis: specs."""
