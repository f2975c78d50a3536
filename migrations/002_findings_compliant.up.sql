-- compliant is whether the subject of a finding complies, as the rule judged it: a column of its own, so
-- that reports read it instead of digging it out of the evidence JSON. NULL means the rule made no such
-- judgement, and it is NULL on every row written before this migration: those rows carry the value in
-- their evidence JSON only, and their chain hashes were computed without it. The canonical form of a
-- finding includes compliant only when it is not NULL, so old chains still verify and setting or
-- clearing it on any row breaks the chain.
ALTER TABLE findings ADD COLUMN compliant boolean;
