"""Reading a text file the user named, bounded: at most so many bytes, and UTF-8."""

from pathlib import Path

from faultsuite.errors import ConfigError

__all__ = ["read_bounded_text"]


def read_bounded_text(path: Path, limit_bytes: int, name: str | None = None) -> str:
    """The text of `path`; one ConfigError line, starting with `name` (default: the path),
    when it cannot be read, is larger than `limit_bytes` (read no further than that: `/dev/zero`
    ends too), or is not UTF-8."""
    name = str(path)[:200] if name is None else name
    try:
        with path.open("rb") as file:
            data = file.read(limit_bytes + 1)
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:  # a path no file can have, e.g. with a NUL in it
        raise ConfigError(f"{name}: cannot read: {exc}") from None
    if len(data) > limit_bytes:
        size = f"{limit_bytes // (1024 * 1024)} MiB" if limit_bytes >= 1024 * 1024 else f"{limit_bytes} bytes"
        raise ConfigError(f"{name}: larger than {size}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None
