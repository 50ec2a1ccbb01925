-- Bulk import throughput: the enrollments → persons foreign key was checked row by row (an SPI
-- lookup plus a FOR KEY SHARE lock, i.e. an extra WAL record, on each person): ~25 µs a row,
-- about a fifth of an import batch. The same rule is now checked once per statement, set-based:
-- every INSERT or UPDATE of enrollments fails (SQLSTATE 23503, foreign_key_violation, as before)
-- if any of its rows names a person that does not exist, and deleting persons still deletes
-- their enrollments (ON DELETE CASCADE, now a statement trigger).
-- What the row-level FK also did and this does not: lock the person against a concurrent DELETE
-- until the enrollment's transaction commits. Nothing in medsettle deletes persons (writers only
-- insert or update them; see services/eligibility/repository.py and bulk_import.py), so that
-- race has no writer; a person deletion tool would have to lock the person rows first.
ALTER TABLE eligibility.enrollments DROP CONSTRAINT IF EXISTS enrollments_psn_no_fkey;

CREATE OR REPLACE FUNCTION eligibility.enrollments_person_exists() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    orphan text;
BEGIN
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

CREATE TRIGGER enrollments_person_exists_on_insert AFTER INSERT ON eligibility.enrollments
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT
    EXECUTE FUNCTION eligibility.enrollments_person_exists();
CREATE TRIGGER enrollments_person_exists_on_update AFTER UPDATE ON eligibility.enrollments
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT
    EXECUTE FUNCTION eligibility.enrollments_person_exists();

CREATE OR REPLACE FUNCTION eligibility.persons_delete_enrollments() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM eligibility.enrollments e USING gone_rows g WHERE e.psn_no = g.psn_no;
    RETURN NULL;
END
$$;

CREATE TRIGGER persons_delete_enrollments AFTER DELETE ON eligibility.persons
    REFERENCING OLD TABLE AS gone_rows FOR EACH STATEMENT
    EXECUTE FUNCTION eligibility.persons_delete_enrollments();
