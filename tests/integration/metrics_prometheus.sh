# metrics_prometheus.sh — memfence's metrics read by a real Prometheus: a fenced python3 writes
# its `metrics_file` into the textfile directory of Debian's prometheus-node-exporter; Debian's
# prometheus scrapes the exporter; a PromQL query through the HTTP API finds
# memfence_usage_bytes of the live process, equal to what `memfence status` says.  Both servers
# are started here, on free ports of 127.0.0.1 only, with scratch storage, and stopped; the
# packages' own services play no part.  Skips when the packages are not installed (scripts/setup
# installs them).
. "$MF_ROOT/tests/integration/lib.sh"
PROM=$(command -v prometheus) || skip "prometheus not installed (scripts/setup: apt-get install prometheus)"
NODE=$(command -v prometheus-node-exporter) ||
    skip "prometheus-node-exporter not installed (scripts/setup: apt-get install prometheus-node-exporter)"
PY=/usr/bin/python3
[ -x "$PY" ] || skip "no /usr/bin/python3"
free_port() { $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT
mkdir -p "$MF_TMP/textfile" "$MF_TMP/tsdb" "$MF_TMP/ledger"
np=$(free_port); pp=$(free_port)
[ "$np" != "$pp" ] || pp=$(free_port)

# the fenced process: 64 MiB held, alive until killed
export MEMFENCE_LEDGER_DIR=$MF_TMP/ledger MEMFENCE_CONFIG=none
fenced MEMFENCE_LIMIT=256M MEMFENCE_INSTANCE=promtest MEMFENCE_METRICS_FILE="$MF_TMP/textfile/memfence.prom" -- \
    $PY -c 'import os, signal
b = bytearray(64 << 20)
print("ready", os.getpid(), flush=True)
signal.pause()' > "$MF_TMP/py.out" 2>"$MF_TMP/py.err" < /dev/null &
pids+=($!)
for _ in $(seq 100); do grep -q ready "$MF_TMP/py.out" && [ -s "$MF_TMP/textfile/memfence.prom" ] && break; sleep 0.1; done
[ -s "$MF_TMP/textfile/memfence.prom" ] || fail "no metrics file: $(cat "$MF_TMP/py.err")"
fpid=$(sed -n 's/^ready //p' "$MF_TMP/py.out")
pids+=("$fpid")

"$NODE" --web.listen-address=127.0.0.1:$np --collector.disable-defaults --collector.textfile \
    --collector.textfile.directory="$MF_TMP/textfile" > "$MF_TMP/node.log" 2>&1 &
pids+=($!)
cat > "$MF_TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['127.0.0.1:$np']
YML
"$PROM" --config.file="$MF_TMP/prometheus.yml" --storage.tsdb.path="$MF_TMP/tsdb" \
    --web.listen-address=127.0.0.1:$pp > "$MF_TMP/prom.log" 2>&1 &
pids+=($!)

# the query: Prometheus renames the metric's own `instance` label to exported_instance (the
# target's address takes `instance`), unless the scrape sets honor_labels
query='memfence_usage_bytes{exported_instance="promtest",pool="host"}'
value=""
for _ in $(seq 300); do
    value=$($PY - "$pp" "$query" <<'PY' 2>/dev/null
import json, sys, urllib.parse, urllib.request
url = "http://127.0.0.1:%s/api/v1/query?query=%s" % (sys.argv[1], urllib.parse.quote(sys.argv[2]))
r = json.load(urllib.request.urlopen(url, timeout=2))
res = r["data"]["result"]
if r["status"] == "success" and res:
    print(res[0]["metric"].get("pid", "?"), res[0]["value"][1])
PY
)
    [ -n "$value" ] && break
    sleep 0.1
done
echo "prometheus: $query -> ${value:-nothing}"
[ -n "$value" ] || { tail -5 "$MF_TMP/node.log" "$MF_TMP/prom.log"; fail "Prometheus has no $query"; }
expect_eq "${value% *}" "$fpid" "the pid label of the series"
used=$("$MF_BIN" status --json | $PY -c 'import json, sys
print([i["host_used"] for i in json.load(sys.stdin)["instances"] if i["instance"] == "promtest"][0])')
v=${value#* }
echo "memfence status: $used bytes; Prometheus: $v bytes"
[ "$v" -ge $((64 << 20)) ] || fail "memfence_usage_bytes $v < the 64 MiB the process holds"
d=$((v > used ? v - used : used - v))
[ "$d" -le $((4 << 20)) ] || fail "Prometheus says $v, memfence status $used"
# every query of the Grafana dashboard is valid PromQL, and the usage panel finds the process
$PY - "$pp" "$MF_ROOT/conf/grafana/memfence-dashboard.json" <<'PY' || fail "a dashboard query failed"
import json, sys, urllib.parse, urllib.request
d = json.load(open(sys.argv[2]))
found = 0
for p in d["panels"]:
    for t in p["targets"]:
        q = t["expr"].replace("$name", ".*").replace("$group", ".*")
        url = "http://127.0.0.1:%s/api/v1/query?query=%s" % (sys.argv[1], urllib.parse.quote(q))
        r = json.load(urllib.request.urlopen(url, timeout=5))
        assert r["status"] == "success", (q, r)
        if q.startswith("memfence_usage_bytes"):
            found += any(s["metric"].get("exported_instance") == "promtest" for s in r["data"]["result"])
assert found, "the usage panel's query does not find the process"
print("dashboard: every query accepted by Prometheus")
PY
pass "memfence_usage_bytes of pid $fpid through node-exporter and Prometheus: $v bytes"
