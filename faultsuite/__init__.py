"""The bottom layer: pieces every package shares (the exception root, the run's clock, YAML
loading) and the run's record (the results directory's layout, events, request records,
run.json, the samplers' file formats). Nothing here imports a package above it
(`faultsuite.layers`)."""

from faultsuite.clock import RunClock
from faultsuite.errors import ConfigError, FaultSuiteError, LaunchError, TargetError

__all__ = ["ConfigError", "FaultSuiteError", "LaunchError", "RunClock", "TargetError"]
