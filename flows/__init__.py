"""Prefect flows and tasks around the store, and the scheduler (``decide serve``): drain the
outbox, scan deadlines.  Only ``decide serve`` and ``decide demo`` import this package."""
