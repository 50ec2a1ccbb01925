"""Rate limits and lock-out of the patient pages, in Redis under `portal:rl:` / `portal:fail:` /
`portal:lock:`.

The arithmetic is pure (`Limit.window`, `Limit.retry_after`, `lockout_after`) and takes the time
as an argument (tests pass a fake clock); `RateLimiter` applies it with Redis INCR + EXPIRE
(fixed windows: at most `limit` events per `window_s`, the window numbered from the epoch).
Subjects are opaque keys (gateway/portal/accounts.py hashes certificate numbers with the session
key first): Redis never holds an ID number.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    limit: int
    window_s: int

    def window(self, now: float) -> int:
        """The number of the fixed window `now` falls in."""
        return int(now // self.window_s)

    def retry_after(self, now: float) -> int:
        """Seconds until the current window ends (at least 1)."""
        return max(1, int(self.window_s - (now % self.window_s)))

    def allows(self, count: int) -> bool:
        """`count`: events in this window, this one included."""
        return count <= self.limit


# Sending a one-time code: per certificate number, per client address.
CODE_PER_SUBJECT = Limit("code", 3, 600)
CODE_PER_CLIENT = Limit("code-ip", 30, 600)  # the limit is PORTAL_CODES_PER_CLIENT (0: none)
# Sign-in attempts (password or code) per client address, whoever they name.
ATTEMPTS_PER_CLIENT = Limit("try-ip", 60, 600)  # the limit is 2 x PORTAL_CODES_PER_CLIENT (0: none)


def lockout_after(failures: int, max_attempts: int) -> bool:
    """Locked out once `failures` wrong codes or passwords reached `max_attempts`."""
    return max_attempts > 0 and failures >= max_attempts


class RateLimiter:
    def __init__(self, redis, *, max_attempts: int, lockout_s: int, prefix: str = "portal") -> None:
        """`prefix`: the Redis key prefix (the console's lock-out uses `console`)."""
        self._redis = redis
        self.max_attempts = max_attempts
        self.lockout_s = lockout_s
        self.prefix = prefix

    async def hit(self, limit: Limit, subject: str, now: float) -> int | None:
        """Count one event; None when allowed, else the seconds to wait."""
        key = f"{self.prefix}:rl:{limit.name}:{subject}:{limit.window(now)}"
        pipe = self._redis.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, limit.window_s + 5)
        count, _ = await pipe.execute()
        return None if limit.allows(int(count)) else limit.retry_after(now)

    async def locked(self, subject: str) -> int | None:
        """Seconds left of a lock-out of `subject`, None when not locked."""
        ttl = await self._redis.ttl(f"{self.prefix}:lock:{subject}")
        return int(ttl) if ttl is not None and int(ttl) > 0 else None

    async def failed(self, subject: str) -> bool:
        """Count one wrong code or password; True when this one locked `subject` out."""
        key = f"{self.prefix}:fail:{subject}"
        pipe = self._redis.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, self.lockout_s)
        failures, _ = await pipe.execute()
        if lockout_after(int(failures), self.max_attempts):
            pipe = self._redis.pipeline(transaction=True)
            pipe.set(f"{self.prefix}:lock:{subject}", "1", ex=self.lockout_s)
            pipe.delete(key)
            await pipe.execute()
            return True
        return False

    async def succeeded(self, subject: str) -> None:
        await self._redis.delete(f"{self.prefix}:fail:{subject}")

    async def unlock(self, subject: str) -> None:
        """Lift a lock-out and forget the failures (an operator's password was reset)."""
        await self._redis.delete(f"{self.prefix}:fail:{subject}", f"{self.prefix}:lock:{subject}")
