"""runbook-compiler: disaster-recovery plans in YAML, compiled to a runbook and a guarded script."""

__version__ = "0.1.0"
