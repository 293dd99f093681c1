"""The checker moved to `harness/checks.py` (the soak uses it too, and `bench` may not import `tests`).

These names stay importable from here for tests written before the move; new code imports `harness.checks`.
"""

from harness.checks import Report, check, poison_only, read_messages, read_topic, replay_ledger, wait_for_no_lag

__all__ = ["Report", "check", "poison_only", "read_messages", "read_topic", "replay_ledger", "wait_for_no_lag"]
