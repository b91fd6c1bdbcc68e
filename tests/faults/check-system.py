#!/usr/bin/env python3
"""Checks that tests/systems/faults.toml is the default system (system.toml) but for what the
campaigns need: the fault-injection build of the e1000 driver and restart policies that allow
thousands of restarts. Any other difference (a stack size the default system changed, say) is
reported, so that the campaigns' figures stay the default system's."""

import sys
import tomllib

ALLOWED = {("system", "name"), ("system", "description")}


def flatten(table, prefix=()):
    for key, value in table.items():
        if isinstance(value, dict):
            yield from flatten(value, prefix + (key,))
        else:
            yield prefix + (key,), value


def main():
    default = dict(flatten(tomllib.load(open(sys.argv[1], "rb"))))
    faults = dict(flatten(tomllib.load(open(sys.argv[2], "rb"))))
    wrong = []
    for key in sorted(set(default) | set(faults)):
        if key in ALLOWED or key[-2:-1] == ("restart",) or key == ("component", "e1000", "program"):
            continue
        if default.get(key) != faults.get(key):
            wrong.append(f"{'.'.join(key)}: {default.get(key)!r} in {sys.argv[1]}, "
                         f"{faults.get(key)!r} in {sys.argv[2]}")
    if wrong:
        print(f"{sys.argv[2]} differs from {sys.argv[1]} beyond the campaign's changes:")
        for line in wrong:
            print("  " + line)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
