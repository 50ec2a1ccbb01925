-- Fund supervision (DOMAIN.md §10, docs/SUPERVISION.md), owned by the settlement service
-- (services/settlement/supervision*.py): what the rules found at settlement, the person facts the
-- rules need that no other service keeps (a death registered with the bureau), and the
-- reviewers' alerts of the after-the-fact analysis (`medsettle supervise`).
CREATE SCHEMA IF NOT EXISTS supervision;

-- A person's registered death (reference data: persons[].death_date), written by the reference
-- loader through services/settlement/supervision_repository.py.
CREATE TABLE supervision.person_deaths (
    psn_no      text PRIMARY KEY,
    death_date  date NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Every finding of a committed settlement (3102 at 2207/2304): warn (flagged) or block (the
-- item made self-pay). Written right after the booking; the batch turns them into alerts.
CREATE TABLE supervision.findings (
    setl_id         text NOT NULL,
    mdtrt_id        text NOT NULL,
    psn_no          text NOT NULL,
    fixmedins_code  text NOT NULL,
    insured_pool    text NOT NULL,
    rule_code       text NOT NULL,
    rule_name       text NOT NULL DEFAULT '',
    kind            text NOT NULL,
    severity        text NOT NULL CHECK (severity IN ('warn', 'block')),
    action          text NOT NULL,
    feedetl_sn      text NOT NULL DEFAULT '',
    amount_fen      bigint NOT NULL DEFAULT 0,
    message         text NOT NULL,
    evidence        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (setl_id, rule_code, feedetl_sn)
);
CREATE INDEX findings_created ON supervision.findings (created_at);

-- The reviewers' work list. dedup_key makes a re-run of the batch over the same window add
-- nothing new (the same pattern on the same settlements is the same alert).
CREATE TABLE supervision.alerts (
    alert_id        text PRIMARY KEY,
    pattern         text NOT NULL,
    rule_code       text NOT NULL DEFAULT '',
    severity        text NOT NULL,
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'confirmed', 'dismissed')),
    psn_no          text NOT NULL DEFAULT '',
    fixmedins_code  text NOT NULL DEFAULT '',
    insured_pool    text NOT NULL DEFAULT '',
    setl_ids        text[] NOT NULL DEFAULT '{}',
    summary         text NOT NULL,
    evidence        jsonb NOT NULL DEFAULT '{}'::jsonb,
    amount_fen      bigint NOT NULL DEFAULT 0,
    dedup_key       text NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    reviewer        text NOT NULL DEFAULT '',
    note            text NOT NULL DEFAULT '',
    reviewed_at     timestamptz,
    CHECK ((status = 'open') = (reviewed_at IS NULL))
);
CREATE INDEX alerts_status ON supervision.alerts (status, created_at);
CREATE INDEX alerts_psn ON supervision.alerts (psn_no) WHERE psn_no <> '';

-- Who moved an alert, when, from what to what, and why (the review trail).
CREATE TABLE supervision.alert_events (
    alert_id     text NOT NULL REFERENCES supervision.alerts (alert_id),
    at           timestamptz NOT NULL DEFAULT now(),
    who          text NOT NULL,
    from_status  text NOT NULL,
    to_status    text NOT NULL,
    note         text NOT NULL DEFAULT ''
);
CREATE INDEX alert_events_alert ON supervision.alert_events (alert_id, at);

-- One row per batch run.
CREATE TABLE supervision.runs (
    run_id        bigserial PRIMARY KEY,
    since         date NOT NULL,
    until         date NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    settlements   bigint NOT NULL DEFAULT 0,
    alerts_new    bigint NOT NULL DEFAULT 0
);
