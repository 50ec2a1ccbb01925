"""The `medsettle` command: one entry point for operators and developers.

    medsettle up                 start the suite (embedded PostgreSQL/Redis unless configured)
    medsettle demo               up + demo data + a scripted HIS demo, then keep running
    medsettle migrate            apply pending SQL migrations
    medsettle load FILE.json     load reference data (docs/REFERENCE_DATA.md); nothing applied on error
    medsettle load --demo        load the demo data for this year (infra/reference/make_demo.py)
    medsettle gen-persons        write a synthetic population as bulk-enrollment CSV
    medsettle import-enrollments FILE.csv   streaming bulk enrollment import
    medsettle audit              recompute every settlement invariant from the database
    medsettle clearing --month YYYYMM       run the monthly clearing for all pools
    medsettle operator ...       operator accounts: list, add, reset-password, token (docs/CONSOLE.md)
    medsettle supervise --since YYYY-MM-DD  fund-supervision alerts over committed settlements
    medsettle env                print the DATABASE_URL / REDIS_URL in use
    medsettle clean-data         stop and wipe the embedded servers' data
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from services.common.config import Settings
from services.common.ports import PortTaken
from services.refdata.cli import DEMO  # `medsettle load --demo`: the demo document for this Beijing year


def suite_stop(suite) -> None:
    if suite is not None:
        suite.stop()


def _endpoints(settings: Settings):
    from services.common import embedded

    return embedded.resolve(settings)


def cmd_up(args, settings: Settings) -> int:
    from services import launcher

    try:
        suite = launcher.prepare(settings)
        suite.check_ports()  # before the demo data goes anywhere
        if args.demo_data and _load(suite.database_url, DEMO, suite.redis_url) != 0:
            return 1
        password = _ensure_admin(suite.database_url)
        suite.start()
        suite.wait_healthy()
    except PortTaken as e:
        print(f"medsettle up: {e}", file=sys.stderr, flush=True)
        suite_stop(locals().get("suite"))
        return 1
    print(console_hint(suite.gateway_url, password), flush=True)
    print(f"medsettle is up: gateway {suite.gateway_url} (Ctrl-C stops everything)", flush=True)
    return launcher.run_until_signal(suite)


def cmd_demo(args, settings: Settings) -> int:
    from gateway import demo
    from services import launcher

    try:
        suite = launcher.prepare(settings)
        suite.check_ports()  # before the demo data goes anywhere
    except PortTaken as e:
        print(f"medsettle demo: {e}", file=sys.stderr, flush=True)
        return 1
    if _load(suite.database_url, DEMO, suite.redis_url) != 0:
        return 1
    password = _ensure_admin(suite.database_url)
    try:
        suite.start()
        suite.wait_healthy()
        demo.play(suite.gateway_url, suite.database_url)
    except PortTaken as e:
        suite.stop()
        print(f"medsettle demo: {e}", file=sys.stderr, flush=True)
        return 1
    except BaseException:
        suite.stop()
        raise
    print(patient_hint(suite.gateway_url, settings), flush=True)
    print(console_hint(suite.gateway_url, password), flush=True)
    print(f"\nmedsettle is up: gateway {suite.gateway_url}  — Ctrl-C stops everything.", flush=True)
    return launcher.run_until_signal(suite)


def patient_hint(gateway_url: str, settings: Settings) -> str:
    """How to sign in on the patient pages as a demo person (the dev SMS sender's outbox)."""
    from pathlib import Path

    outbox = Path(settings.data_dir) / "sms-outbox.jsonl"
    return (f"\nPatient phone pages: {gateway_url}/m/  (a phone-sized browser window)\n"
            f"  sign up as a demo patient: 身份证号 330602196804120112, 姓名 王建国 (phone on file 13933060001)\n"
            f"  the one-time code (dev SMS sender, PORTAL_SMS_SENDER=dev; never logged) is appended to\n"
            f"    {outbox}   e.g.  tail -n1 {outbox}")


def _ensure_admin(dsn: str) -> str | None:
    """The console's bootstrap `admin` on a fresh installation: its generated password, else None."""
    from gateway.console.cli import ensure_admin

    return asyncio.run(ensure_admin(dsn))


def console_hint(gateway_url: str, password: str | None) -> str:
    from gateway.console.cli import admin_hint

    return admin_hint(gateway_url, password)


def cmd_operator(args, settings: Settings) -> int:
    from gateway.console.cli import main as operator_main
    from services.common import db

    ep = _endpoints(settings)
    asyncio.run(db.migrate(ep.database_url))
    return operator_main(args, ep.database_url, ep.redis_url)


def _load(dsn: str, path: str, redis_url: str | None = None) -> int:
    from services.refdata.cli import load_file

    return asyncio.run(load_file(dsn, path, redis_url=redis_url))


def cmd_migrate(args, settings: Settings) -> int:
    from services.common import db

    applied = asyncio.run(db.migrate(_endpoints(settings).database_url))
    print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    return 0


def cmd_load(args, settings: Settings) -> int:
    from services.common import db

    ep = _endpoints(settings)
    asyncio.run(db.migrate(ep.database_url))
    if bool(args.demo) == bool(args.file):
        print("medsettle load: give either FILE.json or --demo", file=sys.stderr)
        return 2
    return _load(ep.database_url, DEMO if args.demo else args.file, ep.redis_url)


def cmd_gen_persons(args, settings: Settings) -> int:
    from services.refdata.cli import gen_persons

    gen_persons(args.count, args.out, seed=args.seed, year=args.year)
    print(f"wrote {args.count} persons to {args.out}")
    return 0


def cmd_import(args, settings: Settings) -> int:
    from services.common import db
    from services.eligibility.bulk_import import import_file

    dsn = _endpoints(settings).database_url
    asyncio.run(db.migrate(dsn))
    try:
        return asyncio.run(import_file(dsn, args.file, redis_url=_endpoints(settings).redis_url,
                                       errors_path=args.errors, progress=not args.quiet, splits=args.splits))
    except KeyboardInterrupt:  # every batch that committed stays; the next run resumes after it
        print(f"import-enrollments: {args.file}: interrupted; run the same command again to resume",
              file=sys.stderr)
        return 130


def cmd_audit(args, settings: Settings) -> int:
    from services.settlement.audit import run_audit

    return asyncio.run(run_audit(_endpoints(settings).database_url))


def cmd_clearing(args, settings: Settings) -> int:
    from services.settlement.clearing import run_clearing_cli

    return asyncio.run(run_clearing_cli(_endpoints(settings).database_url, args.month))


def cmd_supervise(args, settings: Settings) -> int:
    from services.settlement.supervise import run_supervise_cli

    return asyncio.run(run_supervise_cli(_endpoints(settings).database_url, args.since, args.until, args.every))


def cmd_env(args, settings: Settings) -> int:
    e = _endpoints(settings)
    print(f"DATABASE_URL={e.database_url}\nREDIS_URL={e.redis_url}")
    return 0


def cmd_clean_data(args, settings: Settings) -> int:
    from services.common import embedded

    embedded.wipe(settings.data_dir)
    print(f"wiped {settings.data_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="medsettle", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("up", help="start the suite")
    p.add_argument("--demo-data", action="store_true", help="load the demo data for this year first")
    p.set_defaults(func=cmd_up)
    sub.add_parser("demo", help="start the suite with demo data and play the HIS demo").set_defaults(func=cmd_demo)
    sub.add_parser("migrate").set_defaults(func=cmd_migrate)
    p = sub.add_parser("load", help="load a reference-data JSON document, or the demo data (--demo)")
    p.add_argument("file", nargs="?")
    p.add_argument("--demo", action="store_true",
                   help="the demo data for this year in Beijing (last, this and next year's policies and enrollments)")
    p.set_defaults(func=cmd_load)
    p = sub.add_parser("gen-persons", help="write a synthetic population as bulk-enrollment CSV")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--out", default="persons.csv")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--year", type=int, help="enrollment year (default: this year in Beijing)")
    p.set_defaults(func=cmd_gen_persons)
    p = sub.add_parser("import-enrollments", help="streaming bulk enrollment import (CSV)")
    p.add_argument("file")
    p.add_argument("--errors", default=None, help="write the error report here (default FILE.errors.csv)")
    p.add_argument("--splits", type=int, default=None,
                   help="connections applying each batch side by side (default 2; a resumed file keeps its own)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_import)
    sub.add_parser("audit", help="check every settlement invariant").set_defaults(func=cmd_audit)
    p = sub.add_parser("clearing", help="run the monthly clearing for all pools")
    p.add_argument("--month", required=True, help="YYYYMM")
    p.set_defaults(func=cmd_clearing)
    from gateway.console.cli import add_parser as add_operator_parser

    add_operator_parser(sub)
    sub.choices["operator"].set_defaults(func=cmd_operator)
    p = sub.add_parser("supervise", help="fund supervision after the event: alerts over committed settlements")
    p.add_argument("--since", required=True, help="first settlement day (YYYY-MM-DD, Beijing)")
    p.add_argument("--until", help="last settlement day (default: today in Beijing)")
    p.add_argument("--every", type=float, default=0, help="repeat every N seconds (a periodic task); 0: once")
    p.set_defaults(func=cmd_supervise)
    sub.add_parser("env", help="print the database and Redis URLs in use").set_defaults(func=cmd_env)
    sub.add_parser("clean-data", help="wipe the embedded servers' data").set_defaults(func=cmd_clean_data)
    args = parser.parse_args(argv)
    return args.func(args, Settings.from_env()) or 0


if __name__ == "__main__":
    sys.exit(main())
