-- An audit's chain may hold "monitoring" entries: for one vantage, what the agents' signed per-interval
-- summaries in the audited period say (figures per target and probe kind, the days and intervals they
-- cover, the gaps), with a digest naming exactly which agent_summaries rows they were computed from. The
-- reports read the figures from the chain; `varde verify` checks the digest against agent_summaries.
ALTER TABLE audit_entries DROP CONSTRAINT audit_entries_kind_check;
ALTER TABLE audit_entries ADD CONSTRAINT audit_entries_kind_check CHECK (kind IN ('header', 'step', 'finish', 'monitoring'));
