"""The input folder, listed once per run and read defensively.

A folder a user points the pipeline at may hold anything: names that are not UTF-8, very
long names, files that vanish between listing and reading, FIFOs and device files with a
photo's name, symlinks into ``/dev``, unreadable sub-folders, dot-files. None of them may
stop the run or be dropped silently: :func:`list_inputs` returns one :class:`InputFile` per
entry, and :func:`read_input` returns the bytes of a regular file or raises
:class:`~facial_anomaly.faces.io.ImageRejected` with a reason for the report table:

``not_a_regular_file``, ``vanished``, ``unreadable``, ``too_large``, ``empty_file``.

Local folders are walked with ``os.scandir`` on byte paths (any name survives) and files
are opened non-blocking and checked with ``fstat`` on the open descriptor before a byte is
read, so a FIFO cannot hang the run and ``/dev/zero`` cannot fill the memory. Other fsspec
URLs (``s3://``, ``memory://`` ...) are listed with ``fs.find`` and checked with ``fs.info``.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from urllib.parse import quote_from_bytes, unquote_to_bytes

from ..faces.io import ImageRejected, image_id_from_path

DEFAULT_MAX_BYTES = 200_000_000  # larger files are refused before reading (no photo is this big)


@dataclass(frozen=True)
class InputFile:
    """One entry of the input folder.

    Attributes:
        image: the path relative to the input root as shown in reports (``/`` separators;
            bytes that are not UTF-8 shown as ``\\xNN``).
        image_id: stable, filesystem-safe id (:func:`~facial_anomaly.faces.io.image_id_from_path`).
        source_key: the exact relative path, percent-encoded bytes: reopens the file even
            when its name is not UTF-8 (:func:`input_location`).
        problem: a rejection reason found while listing (e.g. an unreadable sub-folder), or "".
        detail: human-readable text for ``problem``.
    """

    image: str
    image_id: str
    source_key: str
    problem: str = ""
    detail: str = ""


def _display(relative: bytes) -> str:
    return relative.decode("utf-8", errors="backslashreplace")


def _entry(relative: bytes, problem: str = "", detail: str = "") -> InputFile:
    return InputFile(
        image=_display(relative),
        image_id=image_id_from_path(relative),
        source_key=quote_from_bytes(relative, safe="/"),
        problem=problem,
        detail=detail,
    )


def is_local(root: str) -> bool:
    """True for a plain path or a ``file://`` URL."""
    return "://" not in root or root.startswith("file://")


def _local_root(root: str) -> bytes:
    return os.fsencode(root[len("file://") :] if root.startswith("file://") else root)


def _walk_local(root: bytes) -> list[InputFile]:
    """Every non-directory entry under ``root`` (symlinked folders followed once; cycles skipped)."""
    entries: list[InputFile] = []
    seen_folders: set[tuple[int, int]] = set()
    pending = [b""]
    while pending:
        relative_folder = pending.pop()
        folder = os.path.join(root, relative_folder) if relative_folder else root
        try:
            info = os.stat(folder)
            if (info.st_dev, info.st_ino) in seen_folders:
                continue  # a symlink loop, or a folder linked twice
            seen_folders.add((info.st_dev, info.st_ino))
            with os.scandir(folder) as scan:
                children = sorted(scan, key=lambda child: child.name)
        except OSError as error:
            if relative_folder:
                entries.append(
                    _entry(relative_folder + b"/", "unreadable", f"cannot list this folder: {error.strerror}")
                )
                continue
            raise
        for child in children:
            relative = relative_folder + b"/" + child.name if relative_folder else child.name
            try:
                is_folder = child.is_dir(follow_symlinks=True)
            except OSError:
                is_folder = False
            if is_folder:
                pending.append(relative)
            else:
                entries.append(_entry(relative))
    return sorted(entries, key=lambda entry: (entry.image, entry.source_key))


def list_inputs(root: str, *, storage_options: dict | None = None) -> list[InputFile]:
    """Every file under ``root`` (recursively), sorted by path: listed once per run.

    Raises:
        FileNotFoundError: ``root`` does not exist.
        NotADirectoryError: ``root`` is a file.
        PermissionError: ``root`` cannot be listed.
    """
    if is_local(root):
        path = _local_root(root)
        if not os.path.exists(path):
            raise FileNotFoundError(f"input folder {os.fsdecode(path)!r} does not exist")
        if not os.path.isdir(path):
            raise NotADirectoryError(f"input folder {os.fsdecode(path)!r} is not a folder")
        return _walk_local(path)
    import fsspec

    fs, base = fsspec.core.url_to_fs(root, **(storage_options or {}))
    base = base.rstrip("/")
    if not fs.exists(base):
        raise FileNotFoundError(f"input folder {root!r} does not exist")
    found = fs.find(base, withdirs=False)
    relatives = sorted(path[len(base) :].lstrip("/") for path in found)
    return [_entry(relative.encode("utf-8", errors="surrogateescape")) for relative in relatives]


def input_location(root: str, source_key: str) -> str | bytes:
    """Where to open an input: a byte path for local folders, a URL otherwise."""
    relative = unquote_to_bytes(source_key)
    if is_local(root):
        return os.path.join(_local_root(root), relative)
    return root.rstrip("/") + "/" + relative.decode("utf-8", errors="surrogateescape")


def read_input(
    root: str, entry: InputFile, *, max_bytes: int = DEFAULT_MAX_BYTES, storage_options: dict | None = None
) -> bytes:
    """The bytes of one listed input, after checking on the open file that it is a regular
    file of at most ``max_bytes`` bytes.

    Raises:
        ImageRejected: ``not_a_regular_file``, ``vanished``, ``unreadable``, ``too_large``,
            ``empty_file`` (or the problem found while listing).
    """
    if entry.problem:
        raise ImageRejected(entry.problem, entry.detail)
    location = input_location(root, entry.source_key)
    if isinstance(location, bytes):
        return _read_local(location, max_bytes)
    return _read_remote(location, max_bytes, storage_options)


def _read_local(path: bytes, max_bytes: int) -> bytes:
    try:
        # O_NONBLOCK: opening a FIFO for reading returns at once instead of waiting for a writer.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ImageRejected("vanished", "the file was listed but no longer exists") from None
    except OSError as error:
        raise ImageRejected("unreadable", f"cannot open: {error.strerror}") from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            kind = _file_kind(info.st_mode)
            raise ImageRejected("not_a_regular_file", f"{kind}, not a regular file")
        _check_size(info.st_size, max_bytes)
        chunks, remaining = [], info.st_size + 1  # one byte more tells a file that grew meanwhile
        while remaining > 0:
            chunk = os.read(descriptor, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
        _check_size(len(data), max_bytes)
        return data
    except OSError as error:
        raise ImageRejected("unreadable", f"read failed: {error.strerror}") from None
    finally:
        os.close(descriptor)


def _read_remote(url: str, max_bytes: int, storage_options: dict | None) -> bytes:
    import fsspec

    fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    try:
        info = fs.info(path)
    except FileNotFoundError:
        raise ImageRejected("vanished", "the file was listed but no longer exists") from None
    if info.get("type") != "file":
        raise ImageRejected("not_a_regular_file", f"{info.get('type')}, not a regular file")
    _check_size(int(info.get("size") or 0), max_bytes)
    try:
        data = fs.cat_file(path)
    except FileNotFoundError:
        raise ImageRejected("vanished", "the file was listed but no longer exists") from None
    _check_size(len(data), max_bytes)
    return data


def _check_size(size: int, max_bytes: int) -> None:
    if size == 0:
        raise ImageRejected("empty_file", "the file has no bytes")
    if size > max_bytes:
        raise ImageRejected("too_large", f"{size} bytes exceeds the {max_bytes}-byte limit")


def _file_kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return name
    return "a special file"
