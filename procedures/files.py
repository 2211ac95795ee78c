"""Files a user names (an attachment, a schedule to import, a procedure definition, the
notification settings): regular files only, read within a size limit.

A FIFO would block ``open`` until some writer comes, ``/dev/zero`` never ends, a directory or a
socket is no document.  The file is opened without blocking and checked on the open descriptor
itself, so it cannot be swapped between the check and the read; a file that grows past the
limit while it is read is refused too.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from procedures.errors import InputError

__all__ = ["MAX_SETTINGS_BYTES", "chunks", "open_regular", "read_text", "too_large"]

# a schedule, a procedure definition, notify.toml: a few kilobytes each (the national preset,
# the largest, is under 20 KiB)
MAX_SETTINGS_BYTES = 1 << 20
_CHUNK = 1 << 20


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def size_text(limit: int) -> str:
    return f"{limit / (1 << 20):g} MiB"


def too_large(path: Path, size: int, limit: int, what: str, setting: str = "") -> str:
    where = f" ({setting})" if setting else ""
    return (
        f"文件过大 file too large: {path} has {size:,} bytes or more; {what} may have at most "
        f"{size_text(limit)}{where}"
    )


def open_regular(path: Path, *, limit: int, what: str, setting: str = "") -> int:
    """A descriptor on ``path`` once it is known to be a regular file of at most ``limit``
    bytes; ``what`` names the input in the refusal (``--attach``, ``calendar import``),
    ``setting`` the variable that sets the limit, if any."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise InputError(f"文件不存在 file not found: {path}") from None
    except OSError as exc:
        raise InputError(f"无法读取 cannot read {path}: {exc.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise InputError(
            f"不是普通文件 not a regular file: {path} is {_kind_of(info.st_mode)}; "
            f"{what} takes regular files only"
        )
    if info.st_size > limit:
        os.close(fd)
        raise InputError(too_large(path, info.st_size, limit, what, setting))
    os.set_blocking(fd, True)
    return fd


def chunks(path: Path, *, limit: int, what: str, setting: str = "") -> Iterator[bytes]:
    """The content of the regular file ``path`` in chunks, refused past ``limit`` bytes."""
    fd = open_regular(path, limit=limit, what=what, setting=setting)
    size = 0
    try:
        with os.fdopen(fd, "rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                size += len(chunk)
                if size > limit:
                    raise InputError(too_large(path, size, limit, what, setting))
                yield chunk
    except OSError as exc:
        raise InputError(f"无法读取 cannot read {path}: {exc.strerror}") from None


def read_text(path: Path | str, *, what: str, limit: int = MAX_SETTINGS_BYTES) -> str:
    """The UTF-8 text of the regular file ``path`` (at most ``limit`` bytes)."""
    path = Path(path)
    data = b"".join(chunks(path, limit=limit, what=what))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"不是 UTF-8 文本 {path} is not UTF-8 text (byte {exc.start + 1}); {what} takes "
            "UTF-8 text"
        ) from None
