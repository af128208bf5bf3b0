#!/usr/bin/env python3
"""Extract the worked example of docs/hacking.md (the C code blocks between
<!-- example:begin --> and <!-- example:end -->) into one C file, so that the
build compiles it: usage hacking_example.py HACKING_MD OUT_C."""
import sys

text = open(sys.argv[1], encoding="utf-8").read()
start = text.index("<!-- example:begin -->")
end = text.index("<!-- example:end -->", start)
out, inside = [], False
for line in text[start:end].splitlines():
    if line.startswith("```"):
        inside = not inside
    elif inside:
        out.append(line)
with open(sys.argv[2], "w", encoding="utf-8") as f:
    f.write("/* Generated from docs/hacking.md: edit it there. */\n" + "\n".join(out) + "\n")
