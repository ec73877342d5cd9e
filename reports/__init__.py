"""Rendering: a run's summary, verdict, charts and HTML report, and a group's, built from
nothing but a results directory (`python -m reports DIR`)."""
