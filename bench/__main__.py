"""``python -m bench [scenario ...] [--tickets N]``: run the benchmarks and print a table.

Needs PostgreSQL: ``BENCH_DATABASE_URL``, else ``DATABASE_URL``, else
postgres://postgres@127.0.0.1:5432/service_desk_bench. The database is created if missing and
migrated; ticket tables are emptied before the run (a database whose name lacks "bench" and that
already holds tickets is only touched with ``--force``). Figures are printed, never judged: the
exit status is 0 unless a scenario crashes.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback

import psycopg2
from django.db.migrations.exceptions import InconsistentMigrationHistory

from bench import db, registry
from bench.report import table


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "scenarios", nargs="*", metavar="scenario", help=f"default: all of {', '.join(registry.names())}"
    )
    parser.add_argument("--tickets", type=int, default=100_000, help="tickets per scenario (default 100,000)")
    parser.add_argument("--batch-size", type=int, default=1_000, help="tickets per service call (default 1,000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of one service batch")
    parser.add_argument("--force", action="store_true", help="empty ticket tables even in a non-bench database")
    parser.add_argument("--recreate", action="store_true", help="drop and create the (*bench*) database first")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.scenarios) - set(registry.names()))
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}; available: {', '.join(registry.names())}")
    if args.tickets < 1 or args.batch_size < 1:
        parser.error("--tickets and --batch-size must be at least 1")
    return args


def prepare_database(*, force: bool, recreate: bool) -> str:
    url = db.database_url()
    name = str(db.connection_params(url)["dbname"])
    if recreate:
        db.drop_database(url)
    created = db.ensure_database(url)
    try:
        db.setup_django(url)
    except InconsistentMigrationHistory as exc:
        raise db.BenchDatabaseError(f"{exc} Migrations were rewritten: run again with --recreate.") from exc
    if not created and "bench" not in name and db.ticket_count() and not force:
        raise db.BenchDatabaseError(
            f"{name} holds tickets and is not a bench database; set BENCH_DATABASE_URL or pass --force."
        )
    db.truncate_ticket_tables()
    return f"{name} ({'created' if created else 'existing'})"


def run_all(names: list[str], context: registry.Context) -> tuple[list[registry.Result], bool]:
    results: list[registry.Result] = []
    ok = True
    for name in names:
        print(f"== {name} ...", flush=True)
        began = time.perf_counter()
        try:
            results.extend(registry.runner(name)(context))
        except Exception:
            ok = False
            traceback.print_exc()
            results.append(registry.Result(name, "error", "crashed", "", "see the traceback above"))
        print(f"   {time.perf_counter() - began:,.1f} s", flush=True)
    return results, ok


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        database = prepare_database(force=args.force, recreate=args.recreate)
    except (db.BenchDatabaseError, psycopg2.Error, OSError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    print(f"Database: {database}; {args.tickets:,} tickets, batches of {args.batch_size:,}", flush=True)
    context = registry.Context(tickets=args.tickets, batch_size=args.batch_size, seed=args.seed, profile=args.profile)
    results, ok = run_all(args.scenarios or registry.names(), context)
    print()
    print(table(results))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
