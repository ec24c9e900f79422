-- Every audit append writes a page of each audit_events index, and the
-- writer commits one append at a time: an index no page needs is paid for
-- by every recorded action. audit_events_type_time served only the
-- operator's `keyward audit list --type T` across every chain, which streams
-- the whole log anyway; that query now walks audit_events_time, newest
-- first, and skips the other types, as PostgreSQL's does (it never had this
-- index). An account's log filtered by type keeps audit_events_chain_type_time.
DROP INDEX audit_events_type_time;
