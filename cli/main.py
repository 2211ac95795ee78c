"""The ``decide`` command line (Typer + Rich).  Thin: parse, call a command, render, map errors.

Exit codes: 0 done; 2 bad usage or input; 3 refused by a rule of the procedure; 4 not found;
5 the decision changed meanwhile; 6 not authenticated or not permitted; 1 anything else.  Every command takes ``--json`` and then
prints exactly one JSON document on stdout, errors included.  Never imports Prefect: the
interactive path must answer at once (``decide serve`` and ``decide demo`` import it lazily).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import typer

# each module adds its commands to the app, in the order ``decide --help`` lists them
from cli import accounts, admin, audit, builds, decisions, procedures, render, service, web  # noqa: F401
from cli.common import app, close_opened
from cli.render import stdout_gone
from procedures import DecideError, InputError

__all__ = ["app", "entry", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map the project's errors to one line (or one JSON object) and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    as_json = "--json" in args
    undecodable = _not_utf8(args)
    if undecodable is not None:
        exc = InputError(undecodable)
        _fail(as_json, exc.to_dict(), str(exc), exc.exit_code)
        return exc.exit_code
    try:
        return _run(args, as_json)
    finally:
        close_opened()


def _run(args: list[str], as_json: bool) -> int:
    try:
        # Without standalone mode Click returns the code of a ``typer.Exit`` instead of raising it.
        code = app(args=args, prog_name="decide", standalone_mode=False)
    except DecideError as exc:
        _fail(as_json, exc.to_dict(), str(exc), exc.exit_code)
        return exc.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        _fail(as_json, {"error": "aborted"}, "aborted", 1)
        return 1
    except typer.TyperException as exc:  # usage errors: unknown command or option, bad value
        formatter = getattr(exc, "format_message", None)
        message = formatter() if formatter else str(exc)
        _fail(as_json, {"error": "usage", "message": message}, message, 2)
        return 2
    return code if isinstance(code, int) else 0


def _not_utf8(args: list[str]) -> str | None:
    """The refusal for an argument that is not valid UTF-8 (Python keeps such bytes of argv as
    lone surrogates, which no database, JSON document or terminal can carry), or None."""
    for number, arg in enumerate(args, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            raw = arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            return (
                f"参数不是有效的 UTF-8 argument {number} ({raw}) is not valid UTF-8 text "
                "[input.utf8]: decision ids, names and reasons are given in UTF-8; a file whose "
                "name is in another encoding (GBK) is renamed or copied first"
            )
    return None


def _fail(as_json: bool, doc: dict[str, Any], text: str, code: int) -> None:
    if as_json:
        try:
            sys.stdout.write(render.dump(doc) + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            stdout_gone()
    else:
        from rich.markup import escape

        render.Console(stderr=True, highlight=False).print(
            f"[red]错误 error[/]: {escape(text)}", soft_wrap=True
        )


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    entry()
