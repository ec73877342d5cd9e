"""Pieces every package of the suite shares: the exception root and the run's clock."""

from faultsuite.clock import RunClock
from faultsuite.errors import ConfigError, FaultSuiteError, LaunchError, TargetError

__all__ = ["ConfigError", "FaultSuiteError", "LaunchError", "RunClock", "TargetError"]
