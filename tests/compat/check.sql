-- check.sql — the compatibility sweep's sqlite3 workload: a recursive CTE fills 200 000 rows,
-- then indexes, joins, window functions, JSON, a transaction rolled back and an integrity
-- check.  The output is deterministic; with and without memfence it must be the same.
PRAGMA cache_size = -20000;
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, s TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000)
INSERT INTO t SELECT x, (x * 7919) % 1000, printf('row-%06d-%s', x, hex(x * 31)) FROM c;
CREATE INDEX t_k ON t(k);
CREATE TABLE u AS SELECT k, count(*) AS n, sum(id) AS total FROM t GROUP BY k;
SELECT count(*), sum(k), min(s), max(s) FROM t;
SELECT count(*), sum(n), sum(total) FROM u;
SELECT u.k, u.n, t.s FROM u JOIN t ON t.k = u.k AND t.id = (SELECT min(id) FROM t t2 WHERE t2.k = u.k) ORDER BY u.k LIMIT 5;
SELECT k, id, rank() OVER (PARTITION BY k ORDER BY id DESC) FROM t WHERE k < 2 ORDER BY k, id LIMIT 6;
SELECT json_group_array(k) FROM (SELECT DISTINCT k FROM t ORDER BY k LIMIT 10);
SELECT length(group_concat(s, ',')) FROM t;
BEGIN; DELETE FROM t WHERE k % 2 = 0; SELECT count(*) FROM t; ROLLBACK;
SELECT count(*) FROM t;
SELECT sum(length(s)) FROM (SELECT s FROM t ORDER BY s DESC);
PRAGMA integrity_check;
