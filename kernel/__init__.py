"""The small kernel every package stands on: the database session and unit of work, settings, UTC
times, language and formatting, errors, the audit log, named permissions and the Flask extensions.

It imports nothing from `shop`, `traceability` or `workers`, so the dependencies between those
packages can point one way: `shop` uses `traceability` and `workers`, all three use the kernel.
"""
