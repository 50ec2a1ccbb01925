-- The operator console (gateway/console/, /console/) and the admin REST API's accounts: operator
-- accounts with roles, their API tokens (stored hashed), and the audit log of every admin action.
-- Owned by the gateway (gateway/console/repository.py is the only code that names it). Sessions
-- and lock-out counters are short-lived and live in Redis under `console:`.
CREATE SCHEMA IF NOT EXISTS console;

CREATE TABLE console.operators (
    username        text PRIMARY KEY CHECK (username ~ '^[a-z][a-z0-9._-]{1,31}$'),
    display_name    text NOT NULL DEFAULT '',
    -- admin: everything, accounts included; operator: bureau operator (loads, enrollments,
    -- clearing); auditor: read-only; reviewer: supervision reviewer (alerts) + read.
    role            text NOT NULL CHECK (role IN ('admin', 'operator', 'auditor', 'reviewer')),
    password_hash   text NOT NULL,             -- argon2id (argon2-cffi)
    disabled        boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,      -- business time (the gateway's Clock)
    updated_at      timestamptz NOT NULL,
    last_login_at   timestamptz
);

-- API tokens of the admin REST API (/api/v1): one account each, its role checked per endpoint.
-- Only sha256 of the token is kept (a token is 32 random bytes: no dictionary to hash against).
CREATE TABLE console.api_tokens (
    token_id        text PRIMARY KEY,          -- shown in the console, never the token
    username        text NOT NULL REFERENCES console.operators (username),
    name            text NOT NULL,
    token_sha256    text NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL,
    last_used_at    timestamptz,
    revoked_at      timestamptz
);
CREATE INDEX api_tokens_user ON console.api_tokens (username);

-- Every admin action, by whom and when; nothing is ever updated or deleted.
CREATE TABLE console.audit_log (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL,      -- business time (the gateway's Clock)
    actor           text NOT NULL,             -- an operator's username, or '-' (an unknown name at login)
    role            text NOT NULL DEFAULT '',
    via             text NOT NULL CHECK (via IN ('console', 'api', 'cli', 'start')),
    action          text NOT NULL,             -- e.g. login, reference.load, enrollment.upsert, clearing.run
    target          text NOT NULL DEFAULT '',
    outcome         text NOT NULL,             -- ok | refused | failed (+ the outcome code in detail)
    detail          jsonb NOT NULL DEFAULT '{}'::jsonb,
    client          text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON console.audit_log (at DESC);
CREATE INDEX audit_log_actor ON console.audit_log (actor, at DESC);
