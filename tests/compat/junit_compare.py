#!/usr/bin/env python3
"""junit_compare.py — compares two JUnit XML files written by `python3 -m test --junit-xml`:
the run without memfence (PLAIN) and the run under it (FENCED).  Prints one line per test module
with its counts (tests, failures, errors, skipped) in both runs, then every test case whose
outcome differs.  Exit 0 when every test case has the same outcome in both runs, 1 otherwise.

A test case listed in KNOWN (TEST-ID<TAB>reason per line, # comments) that differs is
reported as documented and does not fail the comparison.

usage: junit_compare.py PLAIN.xml FENCED.xml [KNOWN]
"""
import sys
import xml.etree.ElementTree as ET


def outcomes(path):
    """{(module, test id): outcome} and {module: [tests, failures, errors, skipped]}."""
    cases, counts = {}, {}
    root = ET.parse(path).getroot()
    for tc in root.iter("testcase"):
        # regrtest writes the whole id in name (test.test_os.FileTests.test_access), no classname
        tid = ".".join(x for x in (tc.get("classname", ""), tc.get("name", "")) if x)
        parts = tid.split(".")
        module = parts[1] if parts[0] == "test" and len(parts) > 1 else parts[0]
        state = "passed"
        for child in tc:
            if child.tag in ("failure", "error", "skipped"):
                state = child.tag
                break
        cases[(module, tid)] = state
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
    if len(sys.argv) not in (3, 4):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    known = {}
    if len(sys.argv) == 4:
        with open(sys.argv[3]) as f:
            for line in f:
                if line.strip() and not line.startswith("#") and "\t" in line:
                    tid, why = line.rstrip("\n").split("\t", 1)
                    known[tid] = why
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
    documented = [d for d in diff if d[0][1] in known]
    unexplained = [d for d in diff if d not in documented]
    for (m, tid), a, b in documented:
        print(f"documented difference: {tid}: {a} -> {b}: {known[tid]}")
    if unexplained:
        print(f"{len(unexplained)} test case(s) with a different outcome (without -> with memfence):")
        for (m, tid), a, b in unexplained:
            print(f"  {tid}: {a} -> {b}")
        return 1
    same = len(set(plain) | set(fenced)) - len(documented)
    print(f"same outcome for {same} of {len(set(plain) | set(fenced))} test cases"
          + (f", {len(documented)} documented difference(s) above" if documented else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
