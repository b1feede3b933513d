# metrics_dashboard.sh — conf/grafana/memfence-dashboard.json is a Grafana dashboard (JSON with a
# Prometheus data-source input and panels) built only on metric names memfence exports: every
# memfence_* name in its queries has a HELP line in `memfence metrics`.  (metrics_prometheus.sh
# runs each query through a real Prometheus when one is installed.)
. "$MF_ROOT/tests/integration/lib.sh"
dash=$MF_ROOT/conf/grafana/memfence-dashboard.json
[ -f "$dash" ] || fail "no $dash"
names=$(MEMFENCE_LEDGER_DIR=$MF_TMP "$MF_BIN" metrics | sed -n 's/^# HELP \(memfence_[a-z_]*\) .*/\1/p')
[ -n "$names" ] || fail "memfence metrics prints no HELP lines"
python3 - "$dash" $names <<'PY' || fail "the dashboard is not built on memfence's metric names"
import json, re, sys
d = json.load(open(sys.argv[1]))
known = set(sys.argv[2:])
assert any(i.get("pluginId") == "prometheus" for i in d["__inputs"]), "no Prometheus data-source input"
exprs = [t["expr"] for p in d["panels"] for t in p["targets"]]
assert exprs, "no queries"
used = set(n for e in exprs for n in re.findall(r"\bmemfence_[a-z_]+", e))
bad = used - known
assert not bad, "unknown metric names: %s" % sorted(bad)
print("%d panels, %d queries on %d of memfence's %d metrics" % (len(d["panels"]), len(exprs), len(used), len(known)))
PY
pass "the dashboard uses only memfence's metric names"
