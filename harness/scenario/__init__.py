"""Scenario files: the versioned schema, loading, all-errors-at-once validation."""

SCENARIO_SUFFIX = ".scenario.yaml"
