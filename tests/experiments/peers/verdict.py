"""What every experiment peer prints: `peer: ...` lines, `peer: PASS claim` / `peer: FAIL claim`
for each claim it checks, and `peer: NAME: all checks passed` at the end when all held (the
lines the runs' `expect` lists look for)."""


def say(text):
    print(f"peer: {text}", flush=True)


class Verdict:
    """The claims one peer checks; `exit_status()` ends the peer."""

    def __init__(self, name):
        self.name = name
        self.ok = True

    def check(self, what, passed):
        self.ok &= bool(passed)
        say(f"{'PASS' if passed else 'FAIL'} {what}")
        return passed

    def exit_status(self):
        if self.ok:
            say(f"{self.name}: all checks passed")
        return 0 if self.ok else 1
