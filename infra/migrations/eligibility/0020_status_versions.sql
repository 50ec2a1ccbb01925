-- A per-person status version (issue #18, ../shared/DESIGN.md "Services and who owns what"): a
-- number that changes with every committed change of what eligibility knows about a person
-- (the person row, enrollments, identities, chronic qualifications), whoever makes it — the
-- service, the reference loader, the bulk import, psql — because triggers bump it in the same
-- transaction as the change.
--
-- What it is for: a settlement may use the eligibility snapshot taken at registration (2201/2401,
-- stored with the visit together with the version it was read at) instead of asking eligibility
-- again at 2207/2304. The settlement booking function (settlement migration 0020) reads this row
-- FOR SHARE inside its transaction and books only if the version is still the snapshot's:
--   * a change committed before the booking's read: the version differs, nothing is booked, the
--     settlement service asks eligibility again and recomputes;
--   * a change in flight: its UPDATE of this row holds the row lock, the booking's FOR SHARE waits
--     for its commit and then sees the new version (refused as above);
--   * a change that starts after the booking's read: its UPDATE waits for the booking to commit.
-- So no settlement commits on a status older than a change committed before it. This row is the
-- one thing of eligibility's schema the settlement service reads, by design.
--
-- The version travels with the data: eligibility's person query reads it in the same statement
-- (one snapshot) as the rows it describes, and the Redis cache keeps it inside the entry, so a
-- snapshot never claims a version newer than its data (an older one only costs a re-fetch).
CREATE TABLE eligibility.status_versions (
    psn_no   text COLLATE "C" PRIMARY KEY,
    version  bigint NOT NULL
);

-- Every person stored today starts at version 1; persons inserted later get theirs from the
-- trigger below.
INSERT INTO eligibility.status_versions (psn_no, version)
SELECT psn_no, 1 FROM eligibility.persons ON CONFLICT DO NOTHING;

-- Statement-level, over the transition table: one set-based upsert per statement (a bulk-import
-- batch of 10,000 persons is one statement), not one per row. A row already bumped by this same
-- transaction is not bumped again (one bump per committed change is all a reader can tell apart;
-- the bulk import writes a new person and its enrollment in one statement, which would otherwise
-- insert and then update the same row).
CREATE FUNCTION eligibility.bump_status_versions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO eligibility.status_versions AS v (psn_no, version)
    SELECT DISTINCT psn_no, 1 FROM changed_rows
    ON CONFLICT (psn_no) DO UPDATE SET version = v.version + 1
       WHERE v.xmin <> pg_current_xact_id()::xid;
    RETURN NULL;
END
$$;

CREATE TRIGGER persons_status_version_ins AFTER INSERT ON eligibility.persons
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION eligibility.bump_status_versions();
CREATE TRIGGER persons_status_version_upd AFTER UPDATE ON eligibility.persons
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION eligibility.bump_status_versions();
CREATE TRIGGER persons_status_version_del AFTER DELETE ON eligibility.persons
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION eligibility.bump_status_versions();

CREATE TRIGGER enrollments_status_version_ins AFTER INSERT ON eligibility.enrollments
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION eligibility.bump_status_versions();
CREATE TRIGGER enrollments_status_version_upd AFTER UPDATE ON eligibility.enrollments
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION eligibility.bump_status_versions();
CREATE TRIGGER enrollments_status_version_del AFTER DELETE ON eligibility.enrollments
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION eligibility.bump_status_versions();

CREATE TRIGGER identities_status_version_ins AFTER INSERT ON eligibility.identities
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION eligibility.bump_status_versions();
CREATE TRIGGER identities_status_version_upd AFTER UPDATE ON eligibility.identities
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION eligibility.bump_status_versions();
CREATE TRIGGER identities_status_version_del AFTER DELETE ON eligibility.identities
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION eligibility.bump_status_versions();

CREATE TRIGGER chronic_status_version_ins AFTER INSERT ON eligibility.chronic_qualifications
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION eligibility.bump_status_versions();
CREATE TRIGGER chronic_status_version_upd AFTER UPDATE ON eligibility.chronic_qualifications
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION eligibility.bump_status_versions();
CREATE TRIGGER chronic_status_version_del AFTER DELETE ON eligibility.chronic_qualifications
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION eligibility.bump_status_versions();
