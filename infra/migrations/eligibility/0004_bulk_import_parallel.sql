-- Bulk import at the payment deadline (services/eligibility/bulk_import.py), second round:
-- what a perf profile of the importing backend showed, and splitting an import over several
-- connections (one per core) with resumable progress per split.

-- 1. Key columns compare byte-wise (COLLATE "C").
--    The database's default collation (C.UTF-8 from initdb here, often en_US.UTF-8 elsewhere) is
--    a libc locale: every comparison in a b-tree descent, a sort or a unique check goes through
--    strcoll_l, and PostgreSQL turns off abbreviated sort keys for it. These columns hold ASCII
--    identifiers (psn_no, ID and card numbers, pool and insutype codes) whose only meaningful
--    order is byte order, so no query's answer changes. Also lets `psn_no LIKE 'prefix%'` use the
--    primary key. For operators: the tables are not rewritten, but under an exclusive lock their
--    indexes are rebuilt (REINDEX of both tables took 23 s for 7.6 million persons and 8.1
--    million enrollments on this 2-core machine) and the CHECKs of 2. below are validated by a
--    scan of persons — apply it outside settlement hours.
ALTER TABLE eligibility.persons
    ALTER COLUMN psn_no TYPE text COLLATE "C",
    ALTER COLUMN certno TYPE text COLLATE "C",
    ALTER COLUMN social_card TYPE text COLLATE "C";
ALTER TABLE eligibility.enrollments
    ALTER COLUMN psn_no TYPE text COLLATE "C",
    ALTER COLUMN pool TYPE text COLLATE "C",
    ALTER COLUMN insutype TYPE text COLLATE "C";
ALTER TABLE eligibility.identities
    ALTER COLUMN psn_no TYPE text COLLATE "C";
ALTER TABLE eligibility.chronic_qualifications
    ALTER COLUMN psn_no TYPE text COLLATE "C";

-- 2. The same format rules for psn_no and certno without the regex engine.
--    PostgreSQL builds the regex DFA afresh for every row it checks: the two CHECKs were ~12% of
--    the importing backend's CPU (perf: miss(), getvacant()). ltrim(s, set) strips leading
--    characters of the set, so for an 18-byte certno, "nothing or only an X is left" is exactly
--    ^[0-9]{17}[0-9X]$, and for psn_no "nothing is left" is ^[0-9A-Za-z]{1,30}$.
ALTER TABLE eligibility.persons DROP CONSTRAINT persons_psn_no_check;
ALTER TABLE eligibility.persons ADD CONSTRAINT persons_psn_no_check CHECK (
    octet_length(psn_no) BETWEEN 1 AND 30
    AND ltrim(psn_no, '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz') = '');
ALTER TABLE eligibility.persons DROP CONSTRAINT persons_certno_check;
ALTER TABLE eligibility.persons ADD CONSTRAINT persons_certno_check CHECK (
    octet_length(certno) = 18 AND ltrim(certno, '0123456789') IN ('', 'X'));

-- 3. Progress per split. An import runs `splits` transactions per batch side by side, one per
--    connection, each over the rows whose psn_no hashes to it; each commits its rows, its
--    rejected rows and its own progress row together. After a crash the importer re-reads from
--    the smallest committed line and skips, per split, what that split already committed.
--    The number of splits is fixed when a file's import starts (the hash must not change).
ALTER TABLE eligibility.import_progress ADD COLUMN splits integer NOT NULL DEFAULT 1 CHECK (splits BETWEEN 1 AND 64);
CREATE TABLE eligibility.import_split_progress (
    file_sha256    text NOT NULL REFERENCES eligibility.import_progress (file_sha256) ON DELETE CASCADE,
    split          integer NOT NULL CHECK (split >= 0),
    last_line      bigint NOT NULL DEFAULT 1,   -- line 1 is the header
    rows_ok        bigint NOT NULL DEFAULT 0,
    rows_rejected  bigint NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (file_sha256, split)
);
-- An import begun before this migration goes on as one split from where it was.
INSERT INTO eligibility.import_split_progress (file_sha256, split, last_line, rows_ok, rows_rejected)
SELECT file_sha256, 0, last_line, rows_ok, rows_rejected FROM eligibility.import_progress;
ALTER TABLE eligibility.import_progress DROP COLUMN last_line, DROP COLUMN rows_ok, DROP COLUMN rows_rejected;

-- What an operator asks: how far is each file? (`committed_through`: every line up to it is in.)
CREATE VIEW eligibility.import_status AS
SELECT p.file_sha256, p.path, p.splits, min(s.last_line) AS committed_through,
       coalesce(sum(s.rows_ok), 0)::bigint AS rows_ok, coalesce(sum(s.rows_rejected), 0)::bigint AS rows_rejected,
       p.started_at, greatest(p.updated_at, max(s.updated_at)) AS updated_at, p.finished_at
  FROM eligibility.import_progress p LEFT JOIN eligibility.import_split_progress s USING (file_sha256)
 GROUP BY p.file_sha256;
