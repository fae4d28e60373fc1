"""Shared test helpers that are not tests: plain modules the test modules and conftest files import.

No test module imports another test module (``tests/test_layout_rules.py``
checks it); what tests share lives here or in a ``conftest.py``.
"""
