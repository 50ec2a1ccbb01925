-- Bulk import at the payment deadline (services/eligibility/bulk_import.py), third round.
-- The enrollments' person check (0003) is one persons_pkey probe per inserted or updated row.
-- The bulk import's upsert looks up every staged person and inserts the new ones in the same
-- statement that writes their enrollments, so for it the check only repeats a look-up it has
-- just made: ~2.5 µs of a ~25 µs row (EXPLAIN ANALYZE of a 10,000-row batch). A transaction
-- that has made that guarantee itself says so with
--     SET LOCAL medsettle.enrollment_persons = 'found_in_statement'
-- and the check returns at once. Only the bulk import sets it; every other writer (the service's
-- CreateEnrollment, the reference loader, psql) is checked as before. It is a promise by the
-- code that sets it, not a permission: anyone who can write enrollments could drop the trigger.
CREATE OR REPLACE FUNCTION eligibility.enrollments_person_exists() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    orphan text;
BEGIN
    IF current_setting('medsettle.enrollment_persons', true) = 'found_in_statement' THEN
        RETURN NULL;
    END IF;
    -- A correlated scalar subquery: one persons_pkey probe per row, whatever the planner
    -- believes about the transition table's size (it has no statistics).
    SELECT n.psn_no INTO orphan FROM changed_rows n
     WHERE (SELECT p.psn_no FROM eligibility.persons p WHERE p.psn_no = n.psn_no) IS NULL
     LIMIT 1;
    IF orphan IS NOT NULL THEN
        RAISE EXCEPTION 'insert or update on table "enrollments" violates foreign key constraint "enrollments_psn_no_fkey"'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'enrollments_psn_no_fkey',
                  TABLE = 'enrollments', SCHEMA = 'eligibility',
                  DETAIL = format('Key (psn_no)=(%s) is not present in table "persons".', orphan);
    END IF;
    RETURN NULL;
END
$$;
