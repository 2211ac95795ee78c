"""The ``decide`` command line: parse, call the application layer, render (Rich, or ``--json``).

Never imports Prefect on the interactive path: ``decide serve`` and ``decide demo`` import the
flows lazily.
"""

__all__: list[str] = []
