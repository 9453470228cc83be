"""Files that appear whole or not at all (the Python side of the engine's AtomicFile)."""
import contextlib
import os


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; when the block succeeds, fsync the file and rename it
    over `path` (atomic on POSIX). A process killed at any moment leaves at `path` the old file or
    the new one, never a partial one; an exception removes the temporary."""
    path = os.fspath(path)
    head, name = os.path.split(path)
    tmp = os.path.join(head, f".{name}.part-{os.getpid()}")
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path, text):
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)


def write_extxyz(path, frames):
    import ase.io

    with atomic_path(path) as tmp:
        ase.io.write(tmp, frames, format="extxyz")
