"""``make bench``: run every benchmark case module (bench/p*.py) and print its table.

Each case module has ``run(args) -> list[dict]``; a row names the case, our time,
the baseline measured in the same run, and their ratio. Cases build their own data
in a PostgreSQL database of their own (``BENCH_DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/chain_recruit_bench``).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import bench


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("cases", nargs="*", help="case names, e.g. p1 p3 (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller data, for a smoke run")
    args = parser.parse_args(argv)
    names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name[:1] == "p" and m.name[1:2].isdigit())
    if args.cases:
        names = [n for n in names if n.split("_")[0] in args.cases or n in args.cases]
    if not names:
        print("no benchmark cases found", file=sys.stderr)
        return 1
    from bench.harness import setup_django

    setup_django()
    failed = False
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        print(f"== {name}: {(module.__doc__ or '').strip().splitlines()[0]}", flush=True)
        try:
            for row in module.run(args):
                print("   " + "  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
        except Exception as exc:  # noqa: BLE001 - report and go on with the other cases
            failed = True
            print(f"   FAILED: {type(exc).__name__}: {exc}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
