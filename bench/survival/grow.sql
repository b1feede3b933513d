-- grow.sql — the sqlite3 workload of bench/b-70-survival.sh (sqlite3 :memory: < grow.sql):
-- one big in-memory query (a sort of 300,000 random 1000-byte blobs, temporary storage in
-- memory); an out-of-memory error is reported by the shell, which goes on with the next
-- statement and prints SURVIVED.
pragma temp_store = memory;
with recursive c(x) as (select 1 union all select x + 1 from c where x < 300000)
    select count(*), sum(length(b)) from (select randomblob(1000) b from c order by b);
select 'SURVIVED';
