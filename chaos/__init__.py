"""Failures: the catalogue, target resolution within the launched tree, and injection."""

from chaos import bad_input, kinds, network, rollout  # noqa: F401  registers the built-in fault kinds
