"""The exception root: every error a user can cause is a HarnessError with a fix in its text."""


class HarnessError(Exception):
    """Root of the framework's own errors; the CLI prints these as one line and exits 1."""


class ScenarioError(HarnessError):
    """A scenario file or the operator config it names is broken (config-error)."""


class DriverKindError(ScenarioError):
    """A stage of the stack wrote what only the run driver writes (config-error)."""


class ClipError(HarnessError):
    """A clip bundle, a real-log reader input or a synth spec is unusable."""


class ProvisioningError(HarnessError):
    """A checkpoint cannot be verified, loaded or compiled (the provisioning gate)."""


class RecordError(HarnessError):
    """A run record is unreadable or torn."""


class RunnerError(HarnessError):
    """The machinery that runs a scenario failed (infra-error, never a product verdict)."""


class LedgerError(HarnessError):
    """The gate ledger is unreadable or a comparison is impossible."""


class StackError(HarnessError):
    """A stack run by the process adapter crashed, hung or wrote output off its schema."""
