"""Failures: the catalogue, target resolution within the launched tree, and injection."""

from chaos import kinds, network, rollout  # noqa: F401  registers the built-in fault kinds
