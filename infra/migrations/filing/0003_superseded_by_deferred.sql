-- A reference load whose new long-term filing supersedes a stored one (the demo data moves its
-- filing dates with the year; a pool's office re-issues a filing) marks the old row
-- superseded_by the new id before inserting the new row: the partial unique index allows only
-- one active long-term filing, so the old one must stop being active first. The foreign key is
-- checked at commit instead of per statement; the loader's transaction still cannot commit a
-- dangling superseded_by.
ALTER TABLE filing.filings ALTER CONSTRAINT filings_superseded_by_fkey DEFERRABLE INITIALLY DEFERRED;
