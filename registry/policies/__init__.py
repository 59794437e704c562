"""Cleanup policies: the staleness rules of a registry's repositories, on a schedule.

- `selection`: which tags a policy's run would plan (its repositories, its rules, and
  the other policies that cover the same repositories: a tag one of them keeps stays);
- `run`: one run, from superseding the last proposal to a saved plan, applied when the
  policy's mode and caps allow (`caps`);
- `schedule`: when a policy is due, and claiming it once however late the worker is;
- `approval`: a Janitor approves a proposal in one click (it re-checks like any batch);
- `notices`: proposal ready, batch finished, failures, by email and incoming webhook.
"""
