#!/bin/bash
# Server memory per open session, page by page: for each page a fresh `streamlit run app.py` (127.0.0.1, stopped by
# its PID), its RSS idle, after one student, and after N students in steady use for 40 s (bench/load_class.py).
#   bench/rss_sessions.sh [OUTDIR]      N=100 PAGES="low_rank mnist_activations" bench/rss_sessions.sh
# Prints one line a page: RSS in MB and (after N - after one) / N per session. A bench, never a test.
cd "$(dirname "$0")/.."
OUT=${1:-bench-output/rss}; mkdir -p "$OUT"; PORT=${PORT:-8730}; N=${N:-60}
for p in ${PAGES:-kernel_sandbox sliding_kernel relu_pooling mnist_activations deblurring low_rank when_cnns_fail your_network}; do
  setsid .venv/bin/streamlit run app.py --server.port $PORT --server.address 127.0.0.1 --server.headless true > "$OUT/srv.log" 2>&1 &
  P=$!
  for i in $(seq 60); do curl -s http://127.0.0.1:$PORT/_stcore/health >/dev/null && break; sleep 0.5; done
  .venv/bin/python bench/load_class.py --url http://127.0.0.1:$PORT --page "" -n 1 --rounds 1 >/dev/null 2>&1; sleep 12  # the warm-up
  rss() { awk '/VmRSS/{print int($2/1024)}' /proc/$P/status; }
  a=$(rss)
  .venv/bin/python bench/load_class.py --url http://127.0.0.1:$PORT --page $p -n 1 --scenario at-once --rounds 3 >/dev/null 2>&1
  b=$(rss)
  s=$(.venv/bin/python bench/load_class.py --url http://127.0.0.1:$PORT --server-pid $P --page $p -n $N --scenario steady --duration 40 2>&1 \
      | grep SUMMARY | grep -o "runs=[^ ]*\|p95=[^ ]*\|net=[^ ]*\|errors=[0-9]*" | paste -sd' ')
  c=$(rss)
  echo "$p rss_idle=$a one=$b after$N=$c per_session=$(( (c - b) * 1000 / N ))kB $s" | tee -a "$OUT/rss.txt"
  kill $P; sleep 2
done
