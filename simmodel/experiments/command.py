"""What every simmodel analysis command shares before it runs anything: ``key=value``
arguments, ``--help``, one-line errors (exit 2) and Ctrl-C (exit 130).

Kept free of numpy, pandas and the model, so ``--help`` and a mistyped setting answer at once.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from ..config import ConfigError

EXIT_BAD_INPUT = 2
#: Settings every design command (sensitivity, psa) takes: where and how its points run.
DESIGN_RUN_SETTINGS: dict[str, Any] = {"out": "", "jobs": 0, "progress": True, "launcher": "", "batches": 0}


def split_arguments(argv: Sequence[str], own: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The analysis settings (``own`` gives each key's default, whose type converts the text)
    and the model overrides (everything else)."""
    settings, overrides = dict(own), []
    for arg in argv:
        key, sep, text = arg.partition("=")
        if sep and key in own:
            default = own[key]
            try:
                if isinstance(default, bool):
                    if text.lower() not in ("true", "false"):
                        raise ValueError
                    settings[key] = text.lower() == "true"
                elif isinstance(default, int):
                    settings[key] = int(text)
                elif isinstance(default, float):
                    settings[key] = float(text)
                else:
                    settings[key] = text
            except ValueError:
                kind = "true or false" if isinstance(default, bool) else type(default).__name__
                raise ConfigError(f"{key}={text!r}: expected {kind}") from None
        elif arg.startswith("-"):
            raise ConfigError(f"{arg}: options are key=value (see --help)")
        else:
            overrides.append(arg)
    return settings, overrides


def fail(tool: str, message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    print(f"simmodel.{tool}: error: {message}", file=sys.stderr)
    sys.exit(code)


def command_main(
    tool: str,
    doc: str,
    settings: dict[str, Any],
    run: Callable[[dict[str, Any], list[str]], list[str]],
    argv: Sequence[str] | None,
) -> None:
    """``python -m simmodel.TOOL``: help, arguments, one-line errors (exit 2), Ctrl-C (exit 130)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args):
        print(doc)
        return
    try:
        opts, overrides = split_arguments(args, settings)
        lines = run(opts, overrides)
    except ConfigError as exc:
        fail(tool, str(exc))
    except KeyboardInterrupt:
        fail(tool, "interrupted: finished points are kept; run the same command to resume", 130)
    print("\n".join(lines))
