"""Deployments: their YAML models, the interface the rest of the suite sees them through
(`deployments.interface`), the launcher/supervisor and attach mode behind it (picked by
`deployments.factory`), and the embedded simulated graph.

Kept free of imports on purpose: the simulated components run as `python -m deployments.sim.X`
and must monkey-patch with gevent before anything else is imported. Import the modules
(`deployments.models`, `deployments.factory`, ...) directly.
"""
