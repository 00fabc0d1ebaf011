"""Fill in each run's ``legs.txt`` from the goal study's worker logs, for the parts of runs that ran before
``studies/goal_study.sh`` wrote ``legs.txt`` itself (2026-12-07).

    .venv/bin/python studies/legs_from_logs.py OUT [RUN ...]   # OUT: the study's folder (/work/goal_study)

A worker's log (``OUT/study_<n>.log``) holds its runs one after another, each part opened by algd-compare's
``[compare] ALGO on TASK, seed N -> RUN`` line. For every part, this writes to ``RUN/legs.txt`` a header
saying that the part's time and machine were not recorded, then the part's start-up line (the update
schedule in words), its resume lines and how it ended, the lines ``goal_study.sh`` now copies itself.
A run folder that already has a ``legs.txt`` is left alone, so running this twice adds nothing; with RUN
folders named, only those (a run whose part is still going would miss that part's end).
"""
import re
import sys
from pathlib import Path

PART = re.compile(r"^\[compare\] \S+ on \S+, seed \d+ -> (\S+)$")
KEPT = re.compile(r"^(resume:|stopped:|error:|done:)| on SafetyPointGoal1-v0, (new run|resuming at) ")


def parts(log: Path) -> list[tuple[Path, list[str]]]:
    """(run folder, the part's kept lines) for every part in one worker's log, in order."""
    found: list[tuple[Path, list[str]]] = []
    for line in log.read_text().splitlines():
        if m := PART.match(line):
            found.append((Path(m[1]), []))
        elif found and KEPT.search(line):
            found[-1][1].append(line)
    return found


def main(out: str, only: list[str] = ()) -> None:
    by_run: dict[Path, list[list[str]]] = {}
    for log in sorted(Path(out).glob("study_*.log")):
        for run, lines in parts(log):
            by_run.setdefault(run, []).append(lines)
    chosen = {Path(r).resolve() for r in only}
    for run, runs_parts in sorted(by_run.items()):
        if chosen and run.resolve() not in chosen:
            continue
        legs = run / "legs.txt"
        if legs.exists() or not run.is_dir():
            print(f"left alone: {legs}")
            continue
        text = "".join("(a part run before goal_study.sh recorded legs.txt: its time and machine were not recorded)\n"
                       + "".join(f"{line}\n" for line in lines) for lines in runs_parts)
        legs.write_text(text)
        print(f"written: {legs} ({len(runs_parts)} parts)")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: legs_from_logs.py OUT [RUN ...]")
    main(sys.argv[1], sys.argv[2:])
