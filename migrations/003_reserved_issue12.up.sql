-- Schema version 3 belongs to the audit states of issue 12 (running, succeeded, failed, interrupted,
-- partial), written on main in parallel with issue 11. tern needs an unbroken sequence, so this branch
-- holds the number with an empty migration: when the branches meet, issue 12's 003 replaces this file.
SELECT 1;
