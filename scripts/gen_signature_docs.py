#!/usr/bin/env python3
"""Write docs/signatures.md from the signature table (src/rowatch/signatures.py).

scripts/gen_signature_docs.py --write   # regenerate
scripts/gen_signature_docs.py --check   # exit 1 if the committed file is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from rowatch.kinds import Layer  # noqa: E402
from rowatch.signatures import SIGNATURES  # noqa: E402

TARGET = ROOT / "docs" / "signatures.md"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    lines = [
        "# Kernel messages rowatch recognises",
        "",
        "Generated from `src/rowatch/signatures.py` by `scripts/gen_signature_docs.py`; do not",
        "edit by hand. Each entry is tested against its example line (`tests/test_signatures.py`).",
        "Kinds and their roles are described in [replay-json.md](replay-json.md).",
        "",
    ]
    for layer in Layer:
        entries = [s for s in SIGNATURES if s.kind.layer is layer]
        if not entries:
            continue
        lines += [
            f"## {layer.value}",
            "",
            "| signature | kind | meaning | kernels | printed by |",
            "|---|---|---|---|---|",
        ]
        for s in entries:
            lines.append(
                f"| `{s.name}` | `{s.kind.value}` | {_cell(s.meaning)} | "
                f"{_cell(s.kernels)} | {_cell(s.printed_by)} |"
            )
        lines.append("")
        for s in entries:
            lines += [
                f"- `{s.name}`" + (f" ({s.program})" if s.program != "kernel" else "") + ":",
                "",
                f"      {s.example}",
                "",
            ]
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = render()
    if args.write:
        TARGET.write_text(text)
        return 0
    if args.check:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET} is stale: run scripts/gen_signature_docs.py --write", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
