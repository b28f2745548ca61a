"""`localqwen doctor`."""

from __future__ import annotations

import argparse
import json


def run(args: argparse.Namespace) -> int:
    from localqwen.doctor import run_doctor

    report = run_doctor()
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        marks = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}
        for check in report.checks:
            print(f"[{marks[check.status]}] {check.name}: {check.detail}")
            if check.fix and check.status != "ok":
                print(f"       fix: {check.fix}")
        print("healthy" if report.healthy else "not healthy")
    return 0 if report.healthy else 1


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("doctor", help="check that this machine can run models (llama.cpp canary in a child)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run)
