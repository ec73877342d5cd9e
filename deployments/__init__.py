"""Deployment graphs: their YAML models, the launcher/supervisor, and the embedded simulated graph.

Kept free of imports on purpose: the simulated components run as `python -m deployments.sim.X`
and must monkey-patch with gevent before anything else is imported. Import the modules
(`deployments.models`, `deployments.launcher`, ...) directly.
"""
