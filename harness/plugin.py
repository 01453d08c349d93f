"""The `pytest11` entry point. Every pytest session in the environment imports it, so it imports
nothing itself (not even pytest): pytest, already running, loads the plugins it names.

Scenarios (collector, item, verdict hooks) are `harness.pytest_scenarios`; reporting (Allure
steps, the gate ledger, the results' side files), reruns after a gate move with failure
bundles, and the board farm are plugins of their own.
"""

pytest_plugins = [
    "harness.pytest_scenarios",
    "harness.report.pytest_allure",
    "harness.history.pytest_surprises",
    "harness.runners.farm_plugin",
]
