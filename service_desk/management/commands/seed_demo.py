"""``manage.py seed_demo``: fill an empty database with a believable German/English B2B and B2C desk."""

from __future__ import annotations

from argparse import ArgumentParser, ArgumentTypeError

from django.core.management.base import BaseCommand, CommandError

from service_desk import demo

MAX_TICKETS = 1_000_000


def _count(value: str) -> int:
    number = int(value.replace("_", "").replace(",", ""))
    if number < 0:
        raise ArgumentTypeError("must be zero or more")
    return number


class Command(BaseCommand):
    help = (
        "Create demo teams, agents, SLA policies, macros, organizations with contracts and contacts, consumers "
        "and tickets with conversations (through the ticket service layer). Refuses when tickets exist unless "
        "--append is given."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--tickets", type=_count, default=10_000, help="Tickets to create (default 10,000).")
        parser.add_argument("--customers", type=_count, default=1_000, help="B2C customers (default 1,000).")
        parser.add_argument("--organizations", type=_count, default=10, help="B2B organizations (default 10).")
        parser.add_argument("--seed", type=int, default=42, help="Random seed; the same seed gives the same data.")
        parser.add_argument("--batch-size", type=_count, default=2_000, help="Tickets per service call.")
        parser.add_argument(
            "--append",
            action="store_true",
            help="Add tickets although the database already has some; existing demo setup is reused.",
        )
        parser.add_argument("--quiet", action="store_true", help="Print nothing but errors.")

    def handle(self, *args: object, **options: object) -> None:
        if options["tickets"] > MAX_TICKETS:
            raise CommandError(f"--tickets is at most {MAX_TICKETS:,}.")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        quiet = bool(options["quiet"]) or int(options["verbosity"]) == 0
        seed_options = demo.SeedOptions(
            tickets=options["tickets"],
            customers=options["customers"],
            organizations=options["organizations"],
            seed=options["seed"],
            batch_size=options["batch_size"],
            append=bool(options["append"]),
        )
        if not quiet:
            self.stdout.write(
                f"Seeding the demo desk: {seed_options.tickets:,} tickets, {seed_options.customers:,} customers, "
                f"{seed_options.organizations} organizations (seed {seed_options.seed})..."
            )
        try:
            progress = None if quiet else self._progress(seed_options, verbosity=int(options["verbosity"]))
            result = demo.seed_demo(seed_options, progress=progress)
        except demo.SeedRefused as exc:
            raise CommandError(f"{exc} Nothing was changed.") from exc
        if not quiet:
            self._report(result)

    def _progress(self, options: demo.SeedOptions, *, verbosity: int) -> demo.Progress | None:
        """Per-batch progress for large runs (more than five batches) or with -v 2."""
        batches = -(-options.tickets // options.batch_size)
        if batches <= 5 and verbosity < 2:
            return None

        def report(done: int, total: int, seconds: float) -> None:
            rate = done / seconds if seconds else 0.0
            self.stdout.write(f"  {done:>9,} / {total:,} tickets  ({rate:,.0f}/s, {seconds:,.1f} s)")

        return report

    def _report(self, result: demo.SeedResult) -> None:
        self.stdout.write(self.style.SUCCESS(f"Done in {result.seconds:,.1f} s."))
        self.stdout.write("")
        width = max(len(name) for name in result.totals)
        self.stdout.write(f"  {'':<{width}}  {'created':>10}  {'total':>10}")
        for name, total in result.totals.items():
            self.stdout.write(f"  {name:<{width}}  {result.created.get(name, 0):>10,}  {total:>10,}")
        self.stdout.write("")
        self.stdout.write("Demo logins (password validators are not applied to these seeded users):")
        role_width = max(len(login.role) for login in result.logins)
        user_width = max(len(login.username) for login in result.logins)
        for login in result.logins:
            self.stdout.write(
                f"  {login.role:<{role_width}}  {login.username:<{user_width}}  password: {login.password}"
                f"   {login.note}"
            )
