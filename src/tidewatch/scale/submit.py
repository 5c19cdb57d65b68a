"""``spark-submit`` entry point (the master and resources come from spark-submit)::

    spark-submit --master yarn $(python -c 'import tidewatch.scale.submit as m; print(m.__file__)') \\
        scan [--format NAME] [--first-stage-only] [--threshold X] IN [IN ...] OUT
    spark-submit ... submit.py link SCAN_OUT OUT

Prints the job's summary as one JSON line; exit codes as ``tidewatch scan``.
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tidewatch.scale.submit")
    jobs = parser.add_subparsers(dest="job", required=True)
    scan = jobs.add_parser("scan")
    scan.add_argument("paths", nargs="+", help="inputs, then the output folder")
    scan.add_argument("--format")
    scan.add_argument("--threshold", type=float)
    scan.add_argument("--first-stage-only", action="store_true")
    scan.add_argument("--collector", default="")
    link = jobs.add_parser("link")
    link.add_argument("scan_out")
    link.add_argument("out")
    args = parser.parse_args(argv)

    from tidewatch.errors import TidewatchError
    from tidewatch.scale.session import spark_session

    spark = spark_session(None, f"tidewatch {args.job}")
    try:
        if args.job == "scan":
            from tidewatch.scale.scan import run_scan

            if len(args.paths) < 2:
                parser.error("give one or more inputs, then the output folder")
            summary = run_scan(
                spark,
                args.paths[:-1],
                args.paths[-1],
                format=args.format,
                second_stage=not args.first_stage_only,
                threshold=args.threshold,
                collector=args.collector,
            )
            print(json.dumps(summary.to_json()))
            if summary.unusable:
                return 2
            return 1 if summary.errors else 0
        from tidewatch.scale.link import run_link

        print(json.dumps(run_link(spark, args.scan_out, args.out).to_json()))
        return 0
    except TidewatchError as error:
        print(f"error {error}", file=sys.stderr)
        return 2
    finally:
        spark.stop()


if __name__ == "__main__":
    sys.exit(main())
