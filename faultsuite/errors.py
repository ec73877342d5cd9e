"""The suite's one exception root.

    FaultSuiteError            anything the suite raises on purpose
    ├── ConfigError            bad user input: YAML, unknown names, options, endpoints
    ├── LaunchError            a deployment could not be brought up
    └── TargetError            a failure could not be aimed at the deployment

Every message is one line that names the file or option and what was expected, so the
command line can print it as-is and exit without a traceback.
"""

__all__ = ["ConfigError", "FaultSuiteError", "LaunchError", "TargetError"]


class FaultSuiteError(Exception):
    """Root of every error the suite raises on purpose."""


class ConfigError(FaultSuiteError):
    """The user's input is wrong; the CLI exits 2 with this one line."""


class LaunchError(FaultSuiteError):
    """A component did not start, or did not become ready in time."""


class TargetError(FaultSuiteError):
    """A failure names something that cannot be resolved in this deployment."""
