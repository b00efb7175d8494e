"""`python -m bench`: run every section, write bench/results/latest.{md,json}."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import dav, fleet, hostile, planner, push, requests, steady, team, web

SECTIONS: dict[str, tuple[Callable[[bool], dict[str, Any]], Callable[[dict[str, Any]], str]]] = {
    "requests": (requests.run, requests.markdown),
    "dav": (dav.run, dav.markdown),
    "planner": (planner.run, planner.markdown),
    "steady": (steady.run, steady.markdown),
    "fleet": (fleet.run, fleet.markdown),
    "team": (team.run, team.markdown),
    "web": (web.run, web.markdown),
    "hostile": (hostile.run, hostile.markdown),
    "push": (push.run, push.markdown),
}
RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [ln for ln in cpuinfo.read_text().splitlines() if ln.startswith("model name")]
        model = names[0].split(":", 1)[1].strip() if names else ""
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        memory = meminfo.read_text().splitlines()[0].split(":", 1)[1].strip()
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory": memory,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, a minute or so")
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append", help="one section")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the results")
    args = parser.parse_args()
    report: dict[str, Any] = {"machine": machine(), "quick": args.quick}
    parts = ["## firstblock benchmark", ""]
    m = report["machine"]
    parts.append(
        f"{m['when']} · Python {m['python']} · {m['cpus']} CPUs ({m['cpu_model']}) · "
        f"{m['memory']} · load {m['load_average']} · {'quick' if args.quick else 'full'} run"
    )
    for name in args.only or list(SECTIONS):
        run, markdown = SECTIONS[name]
        started = time.monotonic()
        print(f"bench: {name}…", file=sys.stderr, flush=True)
        result = run(args.quick)
        result["seconds"] = round(time.monotonic() - started, 1)
        report[name] = result
        parts += ["", markdown(result)]
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "quick" if args.quick else "latest"
    if args.only:  # a part must not replace the whole report
        stem += "-" + "-".join(args.only)
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / f"{stem}.md").write_text("\n".join(parts).rstrip() + "\n")
    print("\n".join(parts))
    print(f"bench: wrote {args.out / stem}.md and .json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
