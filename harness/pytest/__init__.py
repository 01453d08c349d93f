"""The pytest plugin, registered as the `pytest11` entry point. Every pytest session in the
environment imports this package, so it imports nothing itself (not even pytest): pytest,
already running, loads the plugins it names.

    session     options, the session's run id and folder
    items       scenario files become items that run, get a verdict and ratchet
    allure      Allure results and steps       ledger     one gate-ledger row per run
    surprises   reruns on a gate move, failure bundles
    farm        the labgrid board farm         crash      a dead xdist worker's verdict
Shared stash keys are in `keys`; nothing outside this package imports pytest's side.
"""

pytest_plugins = [
    "harness.pytest.session",
    "harness.pytest.items",
    "harness.pytest.allure",
    "harness.pytest.ledger",
    "harness.pytest.surprises",
    "harness.pytest.farm",
]
