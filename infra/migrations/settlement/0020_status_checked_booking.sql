-- Settlement on the registration's eligibility snapshot (issue #18).
--
-- 2201/2401 ask eligibility for the person's snapshot anyway; the visit now keeps it (`snapshot`:
-- the answer as JSON, the day and the certificate it was checked for, and the status version
-- it was read at, services/settlement/codec.py). 2207/2304 settle on it without asking
-- eligibility again, and the booking refuses if the person's status changed since:
--
-- settlement.book_settlement_checked(<book_settlement's arguments>, p_status_version) reads the
-- person's row of eligibility.status_versions (eligibility migration 0020: bumped in the same
-- transaction as every change of the person) FOR SHARE, in the booking's own transaction, then
-- books with settlement.book_settlement unchanged. A version other than the snapshot's raises
-- SQLSTATE MS003: nothing is booked, the service asks eligibility for a fresh snapshot and
-- recomputes. A status change in flight holds that row's lock until it commits, so the FOR SHARE
-- waits for it and then reads the new version; one that starts later waits for the booking. No
-- settlement therefore commits on a status older than a change committed before it — a strictly
-- stronger guarantee than the snapshot call per settlement gave (that answer could be overtaken
-- by a change committing between the call and the booking).
--
-- p_status_version 0 with no row at all: a snapshot of an eligibility service that keeps no
-- versions (the settlement tests' stand-in); eligibility itself gives every stored person a row
-- (backfilled, then by trigger), so 0 never matches a real person's row.
--
-- This is the one read of eligibility's schema by the settlement service, by design
-- (../shared/DESIGN.md). The booking function itself is untouched (a wrapper), so changes to
-- book_settlement made by other migrations keep applying.
ALTER TABLE settlement.visits ADD COLUMN snapshot jsonb;

CREATE FUNCTION settlement.book_settlement_checked(
    p_code text, p_msgid text, p_infno text, p_digest bytea, p_reply bytea,
    p_psn_no text, p_mdtrt_id text, p_setl_id text,
    p_insutype text, p_year integer, p_acc_data jsonb, p_acc_caps jsonb, p_acc_version bigint,
    p_visit_status text, p_fees_version integer, p_fee_sns text[],
    p_settlement jsonb, p_funds jsonb, p_ledger jsonb, p_status_version bigint)
RETURNS TABLE (r_booked boolean, r_msgid text, r_infno text, r_digest bytea, r_reply bytea)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    current_version bigint;
BEGIN
    SELECT s.version INTO current_version FROM eligibility.status_versions s
     WHERE s.psn_no = p_psn_no FOR SHARE;
    IF current_version IS DISTINCT FROM p_status_version
       AND NOT (current_version IS NULL AND p_status_version = 0) THEN
        RAISE EXCEPTION 'insured status of % changed since its snapshot (version % now %)',
              p_psn_no, p_status_version, current_version USING ERRCODE = 'MS003';
    END IF;
    RETURN QUERY SELECT * FROM settlement.book_settlement(
        p_code, p_msgid, p_infno, p_digest, p_reply, p_psn_no, p_mdtrt_id, p_setl_id,
        p_insutype, p_year, p_acc_data, p_acc_caps, p_acc_version, p_visit_status, p_fees_version, p_fee_sns,
        p_settlement, p_funds, p_ledger);
END
$$;
