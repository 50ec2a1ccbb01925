"""`medsettle operator ...`: operator accounts from the command line (docs/CONSOLE.md), and the
bootstrap `admin` that `medsettle up` / `medsettle demo` create on a fresh installation.

    medsettle operator list
    medsettle operator add NAME --role operator|auditor|reviewer|admin   (prints a generated password once)
    medsettle operator reset-password NAME                                (prints a new password once)
    medsettle operator token NAME [--name LABEL]                          (prints a new API token once)

Every change is recorded in the audit log (via `cli`, actor `cli:<the local user name>`; the
bootstrap admin's creation: actor `admin` via `start`).
"""

from __future__ import annotations

import asyncio
import sys
from contextlib import asynccontextmanager

from gateway.console.accounts import ADMIN, Actor, Console, ConsoleRefusal
from gateway.console.repository import ConsoleRepository
from services.common.clock import BEIJING, Clock


@asynccontextmanager
async def _console(dsn: str, redis_url: str | None = None):
    """`redis_url`: also the lock-out counters (a password reset lifts a lock-out)."""
    from services.common.db import create_pool

    pool = await create_pool(dsn, min_size=1, max_size=2)
    redis = None
    if redis_url:
        import redis.asyncio as aioredis

        from gateway.portal.ratelimit import RateLimiter

        redis = aioredis.from_url(redis_url)
    try:
        yield Console(repo=ConsoleRepository(pool), clock=Clock(),
                      limiter=RateLimiter(redis, max_attempts=0, lockout_s=0, prefix="console") if redis else None)
    finally:
        if redis is not None:
            await redis.aclose()
        await pool.close()


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()[:20]
    except (KeyError, OSError):
        return "?"


async def ensure_admin(dsn: str) -> str | None:
    """The bootstrap admin's generated password when it was created now, else None."""
    async with _console(dsn) as c:
        return await c.ensure_admin(via="start")


def admin_hint(gateway_url: str, password: str | None) -> str:
    """What `medsettle up` / `demo` print about the console."""
    if password:
        return (f"\nOperator console: {gateway_url}/console/\n"
                f"  the bootstrap operator was created:  user name {ADMIN}   password {password}\n"
                f"  (shown this once; keep it somewhere safe — forgotten: medsettle operator reset-password {ADMIN})")
    return (f"\nOperator console: {gateway_url}/console/  (user {ADMIN}; its password was printed at the first start;\n"
            f"  forgotten: .venv/bin/medsettle operator reset-password {ADMIN})")


async def run(args, dsn: str, redis_url: str | None = None) -> int:
    async with _console(dsn, redis_url if args.op == "reset-password" else None) as c:
        cli = Actor(f"cli:{_os_user()}", "", "cli")  # whoever runs the command on the database's host
        try:
            if args.op == "list":
                for op in await c.repo.operators():
                    last = op.last_login_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") if op.last_login_at else "-"
                    print(f"{op.username:20} {op.role:9} {'disabled' if op.disabled else 'active':8} "
                          f"last sign-in {last} (Beijing)")
                return 0
            if args.op == "add":
                password = await c.create_operator(cli, args.username, args.role, args.display_name or "")
                print(f"operator {args.username.strip().lower()} ({args.role}) created; password (shown once): {password}")
                return 0
            if args.op == "reset-password":
                password = await c.reset_password(cli, args.username)
                print(f"new password of {args.username.strip().lower()} (shown once): {password}")
                return 0
            if args.op == "token":
                op = await c.repo.operator(args.username.strip().lower())
                if op is None:
                    raise ConsoleRefusal("NO_SUCH_OPERATOR", f"no operator {args.username}", "username")
                token = await c.create_token(Actor(op.username, op.role, "cli"), args.name)
                print(f"API token of {op.username} ({op.role}), shown once:\n{token}")
                return 0
        except ConsoleRefusal as e:
            print(f"medsettle operator {args.op}: {e.message}", file=sys.stderr)
            return 2
    return 2


def add_parser(sub) -> None:
    p = sub.add_parser("operator", help="operator accounts of the console and the admin API")
    ops = p.add_subparsers(dest="op", required=True)
    ops.add_parser("list", help="every operator account")
    a = ops.add_parser("add", help="a new operator (prints a generated password once)")
    a.add_argument("username")
    a.add_argument("--role", required=True, choices=("operator", "auditor", "reviewer", "admin"))
    a.add_argument("--display-name", default="")
    r = ops.add_parser("reset-password", help="a new generated password (printed once); lifts a lock-out")
    r.add_argument("username")
    t = ops.add_parser("token", help="a new API token of the account (printed once)")
    t.add_argument("username")
    t.add_argument("--name", default="cli")


def main(args, dsn: str, redis_url: str | None = None) -> int:
    return asyncio.run(run(args, dsn, redis_url))
