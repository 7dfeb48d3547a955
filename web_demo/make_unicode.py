"""Write web_demo/unicode.js: the characters for which Python's str.isspace() and
unicodedata.combining() are true, which runtime/predictor.py uses to trim entity spans.

    .venv/bin/python web_demo/make_unicode.py

tests/test_web_demo.py checks the written tables against the Python running the tests.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

OUT = Path(__file__).resolve().parent / "unicode.js"


def ranges(test) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF or not test(chr(cp)):
            continue
        if found and found[-1][1] == cp - 1:
            found[-1] = (found[-1][0], cp)
        else:
            found.append((cp, cp))
    return found


def table(name: str, found: list[tuple[int, int]]) -> str:
    flat = ",".join(f"0x{a:x},0x{b:x}" for a, b in found)
    return f"const {name} = [{flat}];\n"


def main() -> None:
    OUT.write_text(
        f"// Written by web_demo/make_unicode.py from Python's unicodedata (Unicode "
        f"{unicodedata.unidata_version}); do not edit.\n"
        "// Inclusive [first, last] code-point ranges, flattened.\n"
        + table("SPACE", ranges(str.isspace))
        + table("COMBINING", ranges(lambda ch: unicodedata.combining(ch) != 0))
        + """
function inRanges(ranges, cp) {
  let lo = 0;
  let hi = ranges.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (cp < ranges[2 * mid]) hi = mid - 1;
    else if (cp > ranges[2 * mid + 1]) lo = mid + 1;
    else return true;
  }
  return false;
}

// Python's str.isspace() for one code point.
export const isSpace = (cp) => inRanges(SPACE, cp);
// Python's unicodedata.combining(ch) != 0 for one code point.
export const isCombining = (cp) => inRanges(COMBINING, cp);
""",
        encoding="utf-8",
    )
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
