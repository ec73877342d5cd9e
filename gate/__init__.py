"""The CI gate: expectations checked against a run's summary, the early-abort rule, and the
JUnit XML and step summary a CI load stage reads."""
