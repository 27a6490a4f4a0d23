"""A Keras 3 `.keras` archive (a zip), read safely into memory.

Only the members Keras's loader needs are ever read (`config.json`,
`model.weights.h5`; `metadata.json` is allowed but Keras never reads it), into
memory, never extracted. Before any member is inflated the whole central
directory is checked: no name that points outside the archive, no name twice,
no declared size over a bound or inflating beyond a ratio, no member whose
data would lie past the end of the file (a truncated archive), no encryption,
no compression other than stored or deflate.
"""

from __future__ import annotations

import os

from seqcli.errors import SeqcliError

ZIP_MAGIC = b"PK\x03\x04"
CONFIG = "config.json"
WEIGHTS = "model.weights.h5"
EXPECTED = (CONFIG, "metadata.json", WEIGHTS)
MAX_CONFIG_BYTES = 64 * 2**20  # a config is text: tens of KB in practice
MAX_WEIGHTS_BYTES = 4 * 2**30  # Keras's own bound on an archive member
MAX_RATIO = 100  # inflated / compressed (Keras's bound; Keras itself stores, ratio 1)
RATIO_SLACK = 2**16  # tiny members may compress well past the ratio harmlessly
STORED, DEFLATED = 0, 8


def read_member(path: str, member: str) -> bytes:
    """One expected member's bytes, after the archive's directory is checked."""
    import zipfile

    limit = MAX_CONFIG_BYTES if member != WEIGHTS else MAX_WEIGHTS_BYTES
    where = f"{path}:{member}"
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            with zipfile.ZipFile(handle) as archive:
                infos = archive.infolist()
                check_directory(infos, size, path)
                info = next((i for i in infos if i.filename == member), None)
                if info is None:
                    raise SeqcliError(f"the archive has no {member}; a .keras archive holds "
                                      f"{CONFIG} and {WEIGHTS}", path)
                _check_member(info, limit, where)
                return _inflate(archive, info, where)
    except SeqcliError:
        raise
    except zipfile.BadZipFile as exc:
        raise SeqcliError(f"not a complete zip archive ({exc}); a .keras file is the zip "
                          "keras.Model.save writes", path) from None
    except (OSError, EOFError, RuntimeError, ValueError, NotImplementedError) as exc:
        raise SeqcliError(f"cannot read the archive member ({exc})", where) from None


def _inflate(archive, info, where: str) -> bytes:
    """The member's bytes; zipfile stops at the declared size and checks the CRC, so a
    member that lies about its size is caught without inflating past it."""
    import zipfile

    try:
        with archive.open(info) as stream:
            return stream.read()
    except zipfile.BadZipFile as exc:
        raise SeqcliError(f"the member's data does not match what the archive declares "
                          f"({exc})", where) from None


def check_directory(infos, file_size: int, path: str) -> None:
    """Refuse unsafe names, duplicates and truncated data before anything is inflated."""
    seen = set()
    for info in infos:
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
            raise SeqcliError(f"the member name {name!r} points outside the archive "
                              "(absolute, '..' or a drive); refused", path)
        if name in seen:
            raise SeqcliError(f"the member name {name!r} appears twice; an archive with "
                              "two members of one name is ambiguous, refused", path)
        seen.add(name)
        if info.header_offset + info.compress_size > file_size:
            raise SeqcliError(f"the member {name!r} lies past the end of the file "
                              "(a truncated archive)", path)


def _check_member(info, limit: int, where: str) -> None:
    if info.flag_bits & 0x1:
        raise SeqcliError("the member is encrypted; Keras never encrypts", where)
    if info.compress_type not in (STORED, DEFLATED):
        raise SeqcliError(f"compression method {info.compress_type}; seqcli reads stored or "
                          "deflated members, as Keras writes", where)
    if info.compress_type == STORED and info.file_size != info.compress_size:
        raise SeqcliError(f"a stored member declaring {info.file_size:,} bytes in "
                          f"{info.compress_size:,}; the sizes disagree", where)
    if info.file_size > limit:
        raise SeqcliError(f"declares {info.file_size:,} bytes, over the {limit:,}-byte "
                          "bound", where)
    if info.file_size > MAX_RATIO * info.compress_size + RATIO_SLACK:
        raise SeqcliError(f"declares {info.file_size:,} bytes from {info.compress_size:,} "
                          f"compressed, more than {MAX_RATIO}x (a zip bomb); refused", where)
