-- The patient pages (gateway/portal/, /m/): patient accounts, each bound by real-name
-- verification (certificate number + name + a one-time code to the phone on file, checked by
-- eligibility's VerifyRealName) to exactly one insured person. Owned by the gateway
-- (gateway/portal/repository.py is the only code that names it). Sessions, one-time codes and
-- rate-limit counters are short-lived and live in Redis under `portal:` (gateway/portal/).
-- 0002 is reserved for mobile-payment orders.
CREATE SCHEMA IF NOT EXISTS portal;

CREATE TABLE portal.accounts (
    psn_no          text PRIMARY KEY CHECK (psn_no ~ '^[0-9A-Za-z]{1,30}$'),
    certno          text NOT NULL UNIQUE CHECK (certno ~ '^[0-9]{17}[0-9X]$'),
    password_hash   text,                      -- argon2id (argon2-cffi); NULL: code login only
    created_at      timestamptz NOT NULL,      -- business time (the gateway's Clock)
    updated_at      timestamptz NOT NULL,
    last_login_at   timestamptz
);
