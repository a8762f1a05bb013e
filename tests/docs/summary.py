"""The collector's report: every block and what was done with it, and the counts.

``tests/conftest.py`` prints it in the terminal summary (``pytest -rA`` or not)
whenever documented blocks ran.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.docs.runner import RESULTS


def lines() -> list[str]:
    """The table of blocks run so far, then the count line."""
    from tests.docs.collect import collect

    if not RESULTS:
        return []
    out = []
    for block_id, result in RESULTS.items():
        outcomes = Counter(c.outcome for c in result.commands)
        what = ", ".join(f"{n} {outcome}" for outcome, n in outcomes.items())
        out.append(f"{block_id:<42} {result.block.language:<6} {result.seconds:6.1f}s  "
                   f"{result.status[:70]}  [{what}]")  # fmt: skip
    statuses = Counter(
        "failed" if r.failures else (r.block.marker or "run") for r in RESULTS.values()
    )
    external = sum(1 for r in RESULTS.values() if "nothing of ours" in r.status)
    doctests = sum(1 for b in collect() if b.language == "doctest")
    seconds = sum(r.seconds for r in RESULTS.values())
    out.append(
        f"docs blocks: {len(RESULTS)} tested in {seconds:.0f} s: {statuses.get('run', 0)} run "
        f"as written, {sum(statuses.get(k, 0) for k in ('azure', 'network', 'gpu'))} marked "
        f"azure/network/gpu ({external} of them az/nox lines only, not run; the others' "
        f"commands checked for their one-line error), {statuses.get('skip', 0)} "
        f"marked skip, {statuses.get('failed', 0)} failed; {doctests} >>> blocks are run by "
        "sphinx-build -b doctest (nox -s docs)"
    )
    return out


def report(terminalreporter: Any) -> None:
    """Write :func:`lines` as a section of pytest's terminal summary."""
    table = lines()
    if table:
        terminalreporter.section("documented blocks (tests/docs)")
        for line in table:
            terminalreporter.write_line(line)
