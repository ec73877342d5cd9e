"""The embedded simulated serving graph: frontend, processor, decode worker and engine.

Each runs as a real OS process (`python -m deployments.sim.<role>`) on a loopback port, so a
kill is a real kill. Timing is simulated by the engine; everything else is real HTTP.
"""
