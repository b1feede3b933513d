#!/usr/bin/env python3
"""junit_compare.py — compares two JUnit XML files written by `python3 -m test --junit-xml`:
the run without memfence (PLAIN) and the run under it (FENCED).  Prints one line per test module
with its counts (tests, failures, errors, skipped) in both runs, then every test case whose
outcome differs.  Exit 0 when every test case has the same outcome in both runs, 1 otherwise.

usage: junit_compare.py PLAIN.xml FENCED.xml
"""
import sys
import xml.etree.ElementTree as ET


def outcomes(path):
    """{(module, class, test): outcome} and {module: [tests, failures, errors, skipped]}."""
    cases, counts = {}, {}
    root = ET.parse(path).getroot()
    for tc in root.iter("testcase"):
        cls = tc.get("classname", "")
        name = tc.get("name", "")
        parts = cls.split(".")
        module = parts[1] if parts[0] == "test" and len(parts) > 1 else parts[0]
        state = "passed"
        for child in tc:
            if child.tag in ("failure", "error", "skipped"):
                state = child.tag
                break
        cases[(module, cls, name)] = state
        c = counts.setdefault(module, [0, 0, 0, 0])
        c[0] += 1
        if state == "failure":
            c[1] += 1
        elif state == "error":
            c[2] += 1
        elif state == "skipped":
            c[3] += 1
    return cases, counts


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    plain, pc = outcomes(sys.argv[1])
    fenced, fc = outcomes(sys.argv[2])
    print("| module | tests | failures | errors | skipped | under memfence: tests | failures | errors | skipped |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    tot_p, tot_f = [0] * 4, [0] * 4
    for m in sorted(set(pc) | set(fc)):
        a, b = pc.get(m, [0] * 4), fc.get(m, [0] * 4)
        tot_p = [x + y for x, y in zip(tot_p, a)]
        tot_f = [x + y for x, y in zip(tot_f, b)]
        print(f"| {m} | " + " | ".join(map(str, a)) + " | " + " | ".join(map(str, b)) + " |")
    print("| **total** | " + " | ".join(map(str, tot_p)) + " | " + " | ".join(map(str, tot_f)) + " |")
    diff = [(k, plain.get(k, "absent"), fenced.get(k, "absent"))
            for k in sorted(set(plain) | set(fenced)) if plain.get(k) != fenced.get(k)]
    print()
    if diff:
        print(f"{len(diff)} test case(s) with a different outcome (without -> with memfence):")
        for (m, cls, name), a, b in diff:
            print(f"  {cls}.{name}: {a} -> {b}")
        return 1
    print(f"same outcome for all {len(plain)} test cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
