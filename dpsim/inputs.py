"""The input boundary: every byte a user hands dpsim (files, stdin, ``--set`` values) enters here.

One layer, so that no command can be crashed, hung or fooled by what it reads:

- **Files**: only regular files (or ``-`` for stdin), at most :data:`MAX_FILE_BYTES`; a FIFO,
  a device such as ``/dev/zero`` or a directory is refused before it is opened.
- **Encoding**: UTF-8, with or without a byte-order mark. UTF-16/32, gzip, PNG and other
  binary files are named in the error instead of failing deep inside a decoder.
- **YAML 1.2 core schema** on libyaml's C parser (``yaml.CSafeLoader``): ``010`` is ten (not
  eight), ``yes``/``on`` are strings, only ``true``/``false`` are booleans, ``0o17`` and
  ``0x1f`` are the only non-decimal integers (YAML 1.2.2 spec, section 10.3 "Core Schema").
- **Bounded structure**: duplicate keys are an error (YAML 1.2 section 3.2.1.1 requires
  unique keys; PyYAML silently keeps the last), explicit tags (``!!int``, ``!foo``) are
  refused, nesting is at most :data:`MAX_DEPTH` deep (checked on the event stream before any
  node is built, so a 100,000-deep document cannot exhaust the stack) and aliases may
  expand to at most :data:`MAX_NODES` nodes ("billion laughs"), recursive aliases refused.
- **Messages** quote user input only through :func:`brief`: at most :data:`BRIEF_CHARS`
  characters, control characters and lone surrogates escaped.

Everything raises :class:`~dpsim.errors.ScenarioError` (``<source>: <what>``).
"""

from __future__ import annotations

import math
import os
import re
import stat
import sys
import unicodedata
from pathlib import Path
from typing import Any, BinaryIO, Final, cast

import yaml

from dpsim.errors import ScenarioError, safe_text
from dpsim.units import underflows, unsigned_zero

__all__ = [
    "BRIEF_CHARS",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_INT_DIGITS",
    "MAX_NODES",
    "MIN_FRACTION",
    "STDIN",
    "brief",
    "decode",
    "dump_yaml",
    "first_repeat",
    "load_json",
    "load_yaml",
    "printable_name",
    "read_bytes",
    "read_json",
    "read_text",
    "safe_text",
]

MAX_FILE_BYTES: Final = 1 << 20
"""Largest scenario file read (1 MiB; the bundled scenarios are under 2 KiB)."""
MAX_DEPTH: Final = 32
"""Deepest nesting of mappings and sequences (a scenario needs 4)."""
MAX_NODES: Final = 100_000
"""Most nodes a document may have once its aliases are expanded."""
MAX_INT_DIGITS: Final = 30
"""Longest integer literal accepted (every bounded field fits in far fewer digits)."""
MAX_FLOAT: Final = 1e30
"""Largest magnitude of any plain number a scenario or a result holds (every 30-digit integer is below it)."""
MIN_FRACTION: Final = 1e-6
"""Smallest efficiency or fraction of a rate a scenario or a calibration profile holds: one in a million (below
that no device or link is physical, and the times it implies overflow or its rates underflow to 0)."""
BRIEF_CHARS: Final = 60
"""Longest quotation of user input in an error message."""
STDIN: Final = "-"
"""The path that means standard input."""

_MAGIC: Final = (
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x89PNG", "a PNG image"),
    (b"PK\x03\x04", "a zip archive"),
    (b"%PDF", "a PDF document"),
    (b"\x7fELF", "an executable"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ", "an xz archive"),
)
_BOMS: Final = (
    (b"\x00\x00\xfe\xff", "UTF-32 (big-endian)"),
    (b"\xff\xfe\x00\x00", "UTF-32 (little-endian)"),
    (b"\xfe\xff", "UTF-16 (big-endian)"),
    (b"\xff\xfe", "UTF-16 (little-endian)"),
)
_UTF8_BOM: Final = b"\xef\xbb\xbf"


# --- quoting user input ----------------------------------------------------------------------


def brief(value: object, limit: int = BRIEF_CHARS) -> str:
    """A short, printable quotation of ``value`` for an error message (never the whole input)."""
    if isinstance(value, str):
        text = repr(value[: limit + 1])
    elif isinstance(value, bool) or value is None:
        text = repr(value)
    elif isinstance(value, int):
        digits = len(str(abs(value))) if abs(value) < 10**MAX_INT_DIGITS else None
        text = str(value) if digits is not None else f"an integer of about 10^{int(value.bit_length() * 0.30103)}"
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, dict):
        text = "a mapping" if value else "{}"
    elif isinstance(value, (list, tuple)):
        text = "a list" if value else "[]"
    else:
        text = type(value).__name__
    text = safe_text(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def first_repeat(values: list[Any]) -> int | None:
    """Index of the first value equal to an earlier one (same type: ``1``, ``1.0`` and ``true`` differ), or None.

    Values are parsed YAML (scalars, lists, mappings): compared by type and canonical JSON text.
    """
    import json

    seen: set[tuple[str, str]] = set()
    for index, value in enumerate(values):
        try:
            text = json.dumps(value, sort_keys=True, default=repr)
        except (TypeError, ValueError):  # mapping keys of mixed types
            text = repr(value)
        key = (type(value).__name__, text)
        if key in seen:
            return index
        seen.add(key)
    return None


# --- reading ---------------------------------------------------------------------------------


def _limit_text(limit: int) -> str:
    return f"{limit / (1 << 20):g} MiB" if limit >= 1 << 20 else f"{limit:,} bytes"


def _read_stream(stream: BinaryIO, limit: int, source: str) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ScenarioError("", f"input is larger than the {_limit_text(limit)} limit", source)
    return data


def read_bytes(path: str | Path, source: str | None = None, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file (or stdin for ``-``), at most ``limit`` of them.

    The file type is checked with ``stat`` before opening: opening a FIFO would block and
    reading ``/dev/zero`` would never end.
    """
    where = source if source is not None else ("<stdin>" if str(path) == STDIN else str(path))
    if str(path) == STDIN:
        stream = getattr(sys.stdin, "buffer", None)  # None: dpsim started with stdin closed (`<&-`)
        if stream is None:
            raise ScenarioError("", "standard input is closed: give a file, or pipe the input into -", where)
        try:
            return _read_stream(stream, limit, where)
        except OSError as exc:  # a folder or a closed descriptor as stdin
            raise ScenarioError("", f"cannot read standard input: {exc.strerror or exc}", where) from None
    try:
        info = os.stat(path)
    except OSError as exc:
        raise ScenarioError("", f"cannot read: {exc.strerror or exc}", where) from None
    if not stat.S_ISREG(info.st_mode):
        kind = (
            "a directory"
            if stat.S_ISDIR(info.st_mode)
            else "a FIFO (named pipe)"
            if stat.S_ISFIFO(info.st_mode)
            else "a device"
            if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
            else "a socket"
            if stat.S_ISSOCK(info.st_mode)
            else "not a regular file"
        )
        raise ScenarioError("", f"cannot read: it is {kind}, expected a regular file (or - for stdin)", where)
    if info.st_size > limit:
        raise ScenarioError(
            "", f"file is {info.st_size / (1 << 20):.1f} MiB, larger than the {_limit_text(limit)} limit", where
        )
    try:
        with open(path, "rb") as stream:
            return _read_stream(stream, limit, where)
    except OSError as exc:
        raise ScenarioError("", f"cannot read: {exc.strerror or exc}", where) from None


def decode(data: bytes, source: str) -> str:
    """UTF-8 text of ``data`` (a leading byte-order mark is dropped); other encodings are named."""
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise ScenarioError("", f"this is {what}, not a text file", source)
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            raise ScenarioError("", f"the file is encoded as {encoding}; save it as UTF-8", source)
    if b"\x00" in data[:4096]:
        raise ScenarioError("", "this is a binary file (it contains NUL bytes), not UTF-8 text", source)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        hint = ""
        try:
            data.decode("cp1252")
            hint = " (it looks like Latin-1/Windows-1252)"
        except UnicodeDecodeError:
            pass
        raise ScenarioError(
            "", f"not UTF-8: byte 0x{data[exc.start]:02x} on line {line}{hint}; save the file as UTF-8", source
        ) from None


def read_text(path: str | Path, source: str | None = None, limit: int = MAX_FILE_BYTES) -> str:
    """:func:`read_bytes` then :func:`decode`."""
    where = source if source is not None else ("<stdin>" if str(path) == STDIN else str(path))
    return decode(read_bytes(path, where, limit), where)


def digits_problem(digits: str) -> str | None:
    """Why the integer written ``digits`` is refused (more than :data:`MAX_INT_DIGITS` digits), else None: one rule
    for JSON, CSV cells and YAML."""
    if len(digits.lstrip("+-")) > MAX_INT_DIGITS:
        return f"integer with {len(digits)} digits is far too large (at most {MAX_INT_DIGITS})"
    return None


def float_problem(value: float) -> str | None:
    """Why the number ``value`` is refused (infinite, NaN, past :data:`MAX_FLOAT` or denormal), else None."""
    if value != 0 and (not math.isfinite(value) or abs(value) > MAX_FLOAT):
        return f"{brief(value)} is outside the accepted range (|x| <= {MAX_FLOAT:g})"
    if value != 0 and abs(value) < sys.float_info.min:
        return f"{brief(value)} is a denormal number; use 0 or a physical value"
    return None


def load_json(text: str, source: str) -> Any:
    """JSON of ``text`` (NaN/Infinity read as no value); malformed, nested past the parser's stack or an integer past
    :data:`MAX_INT_DIGITS` digits: one error."""
    import json

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        if (repeat := first_repeat(keys)) is not None:  # JSON itself takes the last: the first is lost unseen
            raise ValueError(f"duplicate key {keys[repeat]!r}")
        return dict(pairs)

    def whole(digits: str) -> int:  # as YAML's integers: 10^400 is no count, and no float holds it
        if (problem := digits_problem(digits)) is not None:
            raise ValueError(problem)
        return int(digits)

    try:
        return json.loads(text, parse_constant=lambda name: None, object_pairs_hook=unique, parse_int=whole,
                          parse_float=lambda digits: unsigned_zero(float(digits)))  # fmt: skip
    except (ValueError, RecursionError) as exc:
        message = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ScenarioError("", f"not JSON: {brief(message)}", source) from None


def read_json(path: str | Path, source: str | None = None, limit: int = MAX_FILE_BYTES) -> Any:
    """:func:`read_text` (a ``.gz`` file decompressed, at most ``limit`` bytes of it), then :func:`load_json`."""
    where = source if source is not None else str(path)
    data = read_bytes(path, where, limit)
    if str(path).endswith(".gz"):
        import gzip
        import io
        import zlib

        try:
            data = _read_stream(cast(BinaryIO, gzip.GzipFile(fileobj=io.BytesIO(data))), limit, where)  # bomb: stops
        except (OSError, EOFError, zlib.error) as exc:
            raise ScenarioError("", f"not gzip: {brief(str(exc))}", where) from None
    return load_json(decode(data, where), where)


# --- YAML 1.2 core schema on the C parser --------------------------------------------------------

_INT_RE: Final = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT_RE: Final = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_BOOL_RE: Final = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL_RE: Final = re.compile(r"^(?:~|null|Null|NULL|)$")


class _Loader(yaml.CSafeLoader):
    """libyaml's parser with the YAML 1.2 core schema and unique keys."""

    yaml_implicit_resolvers: dict[Any, Any] = {}  # noqa: RUF012 - PyYAML's class-level registry

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise yaml.constructor.ConstructorError(None, None, "expected a mapping", node.start_mark)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise _StructureError(f"line {key_node.start_mark.line + 1}: a key must be text, got {brief(key)}")
            if key in mapping:
                raise _StructureError(
                    f"line {key_node.start_mark.line + 1}: duplicate key {brief(key)} "
                    f"(first on line {_first_line(node, key_node) + 1})"
                )
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


def _first_line(mapping: Any, duplicate: Any) -> int:
    for key_node, _ in mapping.value:
        if key_node.value == duplicate.value:
            return int(key_node.start_mark.line)
    return int(duplicate.start_mark.line)  # pragma: no cover - the duplicate itself matches


def _int(loader: _Loader, node: Any) -> int:
    text = str(loader.construct_scalar(node))
    if len(text.lstrip("+-")) > MAX_INT_DIGITS:
        raise _StructureError(
            f"line {node.start_mark.line + 1}: integer with {len(text)} digits is far too large (at most "
            f"{MAX_INT_DIGITS})"
        )
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)  # YAML 1.2: leading zeros are decimal ("010" is ten)


def _float(loader: _Loader, node: Any) -> float:
    text = str(loader.construct_scalar(node)).lower()
    if text.endswith(".inf"):
        return -math.inf if text.startswith("-") else math.inf
    if text == ".nan":
        return math.nan
    value = float(text)
    if value == 0 and underflows(text):
        raise _StructureError(
            f"line {node.start_mark.line + 1}: {brief(text)} is too small for a float and would be read as 0; write 0 "
            "or a value of at least 1e-300"
        )
    return unsigned_zero(value)


def _bool(loader: _Loader, node: Any) -> bool:
    return str(loader.construct_scalar(node)).lower() == "true"


def _null(loader: _Loader, node: Any) -> None:
    return None


for _tag, _regex, _first in (
    ("tag:yaml.org,2002:bool", _BOOL_RE, "tTfF"),
    ("tag:yaml.org,2002:int", _INT_RE, "-+0123456789"),
    ("tag:yaml.org,2002:float", _FLOAT_RE, "-+0123456789."),
    ("tag:yaml.org,2002:null", _NULL_RE, ["~", "n", "N", ""]),
):
    _Loader.add_implicit_resolver(_tag, _regex, list(_first))
_Loader.add_constructor("tag:yaml.org,2002:int", _int)
_Loader.add_constructor("tag:yaml.org,2002:float", _float)
_Loader.add_constructor("tag:yaml.org,2002:bool", _bool)
_Loader.add_constructor("tag:yaml.org,2002:null", _null)


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper, quoting every text that :func:`load_yaml` would read as something else."""


def _represent_text(dumper: yaml.SafeDumper, value: str) -> Any:
    # PyYAML quotes what YAML 1.1 reads as a number, bool or null; the 1.2 core schema load_yaml reads adds
    # '1e3' (1.1: text; 1.2: 1000.0), '0o10' (8) and '.NaN'
    if any(regex.match(value) for regex in (_INT_RE, _FLOAT_RE, _BOOL_RE, _NULL_RE)):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    return dumper.represent_str(value)


_Dumper.add_representer(str, _represent_text)


def dump_yaml(data: Any) -> str:
    """``data`` as YAML that :func:`load_yaml` reads back equal (keys in order, non-ASCII text as it is)."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


def _map(loader: _Loader, node: Any) -> dict[Any, Any]:
    return loader.construct_mapping(node)


_Loader.add_constructor("tag:yaml.org,2002:map", _map)


class _StructureError(Exception):
    """A document that parses but is not acceptable (duplicate key, tag, too deep, too large)."""


class _TooLarge(_StructureError):
    """More than :data:`MAX_NODES` nodes, aliases expanded."""


def _check_events(text: str) -> bool:
    """Depth, tags and anchors from the event stream, before any node is composed; whether it holds an alias."""
    depth = 0
    aliased = False
    for event in yaml.parse(text, Loader=yaml.CSafeLoader):
        aliased = aliased or isinstance(event, yaml.AliasEvent)
        tag = getattr(event, "tag", None)
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        version = getattr(event, "version", None)
        if isinstance(event, yaml.DocumentStartEvent) and version is not None and tuple(version) != (1, 2):
            # round 35: '%YAML 1.1' asks for 1.1's schema (010 is 8, yes is true), which was read as 1.2's silently
            raise _StructureError(
                f"line {line}: the document declares YAML {'.'.join(map(str, version))}; dpsim reads YAML 1.2 (core "
                "schema: 010 is 10, yes is text): remove the %YAML line or write %YAML 1.2"
            )
        if tag is not None:
            shown = brief(str(tag).replace("tag:yaml.org,2002:", "!!"))
            raise _StructureError(f"line {line}: tags such as {shown} are not allowed; write plain values")
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise _StructureError(f"line {line}: nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
    return aliased


def _expanded_size(node: Any, sizes: dict[int, int], active: set[int]) -> int:
    """Nodes under ``node`` with every alias expanded (memoised: linear in the composed graph)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in active:
        raise _StructureError(f"line {node.start_mark.line + 1}: an alias refers to its own ancestor (recursive)")
    active.add(key)
    total = 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            total += _expanded_size(k, sizes, active) + _expanded_size(v, sizes, active)
            if total > MAX_NODES:
                break
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            total += _expanded_size(item, sizes, active)
            if total > MAX_NODES:
                break
    active.discard(key)
    if total > MAX_NODES:
        raise _TooLarge(f"aliases expand to more than {MAX_NODES:,} nodes")
    sizes[key] = total
    return total


def load_yaml(text: str, source: str) -> Any:
    """Parse one YAML 1.2 document from ``text`` (see the module docstring for the rules)."""
    try:
        aliased = _check_events(text)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            try:
                _expanded_size(node, {}, set())
            except _TooLarge:
                if aliased:
                    raise
                raise _StructureError(f"more than {MAX_NODES:,} keys and values in one document") from None
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except _StructureError as exc:
        raise ScenarioError("", f"malformed YAML: {exc}", source) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError("", f"malformed YAML: {where}{safe_text(str(problem))[:200]}", source) from None
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        raise ScenarioError("", f"malformed YAML: {type(exc).__name__}", source) from None


def printable_name(value: str, limit: int = 200) -> str:
    """``value`` if it is printable text of at most ``limit`` characters, else a ValueError."""
    if len(value) > limit:
        raise ValueError(f"at most {limit} characters, got {len(value):,}")
    if not value.isprintable():
        bad = next(ch for ch in value if not ch.isprintable())
        name = unicodedata.name(bad, "") if not 0xD800 <= ord(bad) <= 0xDFFF else "a lone surrogate"
        raise ValueError(f"must be printable text; found {safe_text(bad)} {name}".rstrip())
    return value
