-- ListFilings with include_inactive and the reference loader read all of a person's filings,
-- revoked and superseded ones included: the partial index on active rows does not serve them.
CREATE INDEX filings_by_person ON filing.filings (psn_no, begin);
