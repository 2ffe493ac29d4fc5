#!/bin/bash
# The closing measurements on a merged main: per-page single-user protocol CPU, Chromium bench, class runs, follow.
cd "$(dirname "$0")/.."
OUT=${1:-bench-output/measure}; mkdir -p $OUT
date -u > $OUT/when.txt; uptime >> $OUT/when.txt
PORT=8690
start() { .venv/bin/streamlit run app.py --server.port $PORT --server.address 127.0.0.1 --server.headless true "$@" > $OUT/srv.log 2>&1 & echo $! > $OUT/srv.pid
  for i in $(seq 60); do curl -s http://127.0.0.1:$PORT/_stcore/health >/dev/null && break; sleep 0.5; done
  # the first visit starts the server's warm-up (torch, the lessons): let it finish before the idle rate is read
  .venv/bin/python bench/load_class.py --url http://127.0.0.1:$PORT --page "" -n 1 --rounds 1 >/dev/null 2>&1; sleep 20; }
stop() { kill $(cat $OUT/srv.pid) 2>/dev/null; sleep 1; }
# 1. one student, each page's typical interaction, 20 rounds (net CPU, latency)
start
for p in kernel_sandbox sliding_kernel relu_pooling mnist_activations deblurring low_rank when_cnns_fail your_network; do
  .venv/bin/python bench/load_class.py --url http://127.0.0.1:$PORT --server-pid $(cat $OUT/srv.pid) --page $p -n 1 --scenario at-once --rounds 20 --json $OUT/single.jsonl 2>&1 | grep SUMMARY
done | tee $OUT/single.txt
stop
# 2. class runs on one server (sandbox, then MNIST)
start
P=$(cat $OUT/srv.pid)
.venv/bin/python bench/load_class.py --url http://127.0.0.1:$PORT --server-pid $P --page kernel_sandbox -n 30 --scenario at-once --rounds 3 --json $OUT/class.jsonl 2>&1 | grep SUMMARY | tee -a $OUT/class.txt
.venv/bin/python bench/load_class.py --url http://127.0.0.1:$PORT --server-pid $P --page kernel_sandbox -n 100 --scenario steady --duration 60 --json $OUT/class.jsonl 2>&1 | grep SUMMARY | tee -a $OUT/class.txt
.venv/bin/python bench/load_class.py --url http://127.0.0.1:$PORT --server-pid $P --page mnist_activations -n 30 --scenario at-once --rounds 3 --json $OUT/class.jsonl 2>&1 | grep SUMMARY | tee -a $OUT/class.txt
.venv/bin/python bench/load_class.py --url http://127.0.0.1:$PORT --server-pid $P --page mnist_activations -n 100 --scenario steady --duration 60 --json $OUT/class.jsonl 2>&1 | grep SUMMARY | tee -a $OUT/class.txt
stop
# 3. follow the teacher (SKIP_FOLLOW=1 leaves it out)
[ -n "$SKIP_FOLLOW" ] || .venv/bin/python bench/load_follow.py -n 1 -n 30 -n 100 --port 8694 2>&1 | tail -25 | tee $OUT/follow.txt
# 4. Chromium, one user, every page (first visits cold and warm)
.venv/bin/python bench/bench_browser.py --n 3 2>&1 | tail -25 | tee $OUT/browser.txt
# 5. the static half of first visits: 30 students at once, one process, then through the proxy (2 replicas)
start
.venv/bin/python bench/load_static.py --url http://127.0.0.1:$PORT --server-pid $(cat $OUT/srv.pid) -n 1 -n 30 2>&1 | grep SUMMARY | sed 's/^/one process: /' | tee $OUT/static.txt
stop
setsid .venv/bin/python -m deploy.serve --replicas 2 --port 8695 --run-dir $OUT/deploy > $OUT/deploy.log 2>&1 & DEP=$!
# deploy.serve writes its pids once the proxy answers: wait for the file (the proxy can answer a moment before)
for i in $(seq 120); do [ -s $OUT/deploy/pids ] && break; sleep 1; done
.venv/bin/python bench/load_static.py --url http://127.0.0.1:8695 --server-pid $(awk '/^r/{print $2}' $OUT/deploy/pids | paste -sd,) \
  --proxy-pid $(awk '/^haproxy/{print $2}' $OUT/deploy/pids) -n 1 -n 30 2>&1 | grep SUMMARY | sed 's/^/2 replicas + proxy: /' | tee -a $OUT/static.txt
kill $DEP; sleep 3
date -u >> $OUT/when.txt; uptime >> $OUT/when.txt
