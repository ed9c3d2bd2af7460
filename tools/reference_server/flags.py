"""Command-line flags parsed the way gflags parses them.

The official ``metadata_store_server`` reads its flags with
``gflags::ParseCommandLineFlags``. A client (or a container entrypoint) that
starts it passes them in gflags' forms, so we accept the same ones:
``--name=value``, ``--name value``, a single dash (``-name=value``), and for
booleans ``--name``, ``--noname`` and ``--name=true|false|1|0|yes|no|t|f|y|n``.
An unknown flag or a value that does not parse is an error, as there
(gflags prints ``ERROR: ...`` and exits with status 1).

Our own test aids use the same parser, with dashed names (``--ready-file``),
so they cannot be mistaken for a flag of the official binary.
"""

import re
from dataclasses import dataclass, field
from typing import Dict, List, Sequence

INT32 = (-(2 ** 31), 2 ** 31 - 1)
INT64 = (-(2 ** 63), 2 ** 63 - 1)

_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}
# gflags reads integers with strtol/strtoll after its own checks: leading
# white space and a sign, then decimal digits, or hexadecimal when the value
# itself starts with 0x; ASCII digits only, no underscores.
_INTEGER = re.compile(r"^[ \t\n\v\f\r]*(0[xX][0-9a-fA-F]+|[+-]?[0-9]+)$")


class FlagError(Exception):
    """A command line the official binary would refuse (exit status 1)."""


@dataclass(frozen=True)
class Flag:
    name: str
    kind: str  # "bool", "int32", "int64", "string"
    default: object
    help: str
    # Ours (a test aid or a shorthand) rather than the official binary's.
    ours: bool = False


@dataclass
class Parsed:
    values: Dict[str, object]
    # Flags given on the command line (the others hold their defaults).
    given: set = field(default_factory=set)
    positional: List[str] = field(default_factory=list)


def _parse_value(flag: Flag, text: str) -> object:
    if flag.kind == "bool":
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise FlagError(f"illegal value '{text}' specified for bool flag '{flag.name}'")
    if flag.kind in ("int32", "int64"):
        low, high = INT32 if flag.kind == "int32" else INT64
        if not _INTEGER.match(text):
            raise FlagError(f"illegal value '{text}' specified for {flag.kind} flag '{flag.name}'")
        digits = text.strip()
        value = int(digits, 16) if digits.lower().startswith("0x") else int(digits, 10)
        if not low <= value <= high:
            raise FlagError(f"illegal value '{text}' specified for {flag.kind} flag '{flag.name}'")
        return value
    return text


def parse(flags: Sequence[Flag], argv: Sequence[str]) -> Parsed:
    """Parses argv (without the program name) against `flags`."""
    table = {f.name: f for f in flags}
    result = Parsed(values={f.name: f.default for f in flags})
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            result.positional.extend(args[i:])
            break
        if not arg.startswith("-") or arg == "-":
            result.positional.append(arg)
            continue
        # One or two dashes, as gflags: "---name" is not a flag name.
        body = arg[2:] if arg.startswith("--") else arg[1:]
        name, has_value, text = body.partition("=")
        flag = table.get(name)
        if flag is None and name.startswith("no") and not has_value:
            negated = table.get(name[2:])
            if negated is not None and negated.kind == "bool":
                result.values[negated.name] = False
                result.given.add(negated.name)
                continue
        if flag is None:
            raise FlagError(f"unknown command line flag '{name}'")
        if not has_value:
            if flag.kind == "bool":
                result.values[flag.name] = True
                result.given.add(flag.name)
                continue
            if i >= len(args):
                raise FlagError(f"flag '{name}' is missing its argument")
            text = args[i]
            i += 1
        result.values[flag.name] = _parse_value(flag, text)
        result.given.add(flag.name)
    return result


def usage(program: str, description: str, flags: Sequence[Flag]) -> str:
    def block(title: str, chosen: List[Flag]) -> List[str]:
        lines = [title]
        for f in chosen:
            default = "" if f.default in (None, "") else f" (default: {f.default})"
            lines.append(f"  --{f.name}{'' if f.kind == 'bool' else '=' + f.kind.upper()}{default}")
            lines.append(f"      {f.help}")
        return lines

    official = [f for f in flags if not f.ours]
    ours = [f for f in flags if f.ours]
    out = [f"usage: {program} [FLAGS]", "", description, ""]
    out += block("Flags of the official metadata_store_server (same names, defaults and checks):", official)
    out += [""] + block("Ours (test aids and shorthands; not in the official binary):", ours)
    return "\n".join(out) + "\n"
