#!/usr/bin/env bash
# Every control a student touches on the sandbox, sliding kernel, ReLU/pooling and home pages, one at a time:
# net server CPU ms and kB per change, one session, on a server you started (its figure caches as they are).
#   bench/audit_controls.sh <url> <server pid> [rounds] [extra load_class args, e.g. --fresh]
# Prints one line per control: page key query  net-ms  kB(median)  kB(first change)  p50  errors.
set -u
URL=${1:?url}; PID=${2:?server pid}; ROUNDS=${3:-8}; shift 3 || shift $#
PY=${PY:-.venv/bin/python}
DIGIT='sk_source=Handwritten+digit+%2828%C3%9728%29'
IMAGE='sk_source=Any+image+%28shrunk+to+at+most+32%C3%9732%29'
RF='rp_part=Sparse+interactions%3A+receptive+fields'
EQ='rp_part=Equivariance+lab'
while read -r page key query; do
  [ -z "$page" ] && continue
  [ "$page" = home ] && page=''
  [ "$query" = - ] && query=""
  [ "$key" = - ] && key=""
  out=$($PY bench/load_class.py --url "$URL" --server-pid "$PID" --page "$page" -n 1 --scenario at-once \
        --rounds "$ROUNDS" ${key:+--key "$key"} --query "$query" "$@" 2>&1 | grep SUMMARY)
  net=$(sed -n 's/.* net=\([0-9.]*\)s.*/\1/p' <<<"$out"); kb=$(sed -n 's/.*kB\/rerun=\([0-9]*\).*/\1/p' <<<"$out")
  kb1=$(sed -n 's/.*kB_first=\([0-9]*\).*/\1/p' <<<"$out"); p50=$(sed -n 's/.* p50=\([0-9.]*\)s.*/\1/p' <<<"$out")
  err=$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<<"$out"); runs=$(sed -n 's/.* runs=\([0-9]*\).*/\1/p' <<<"$out")
  printf '%-15s %-18s %-14s net_ms=%5.0f kB=%5s kB_first=%5s p50=%s runs=%s err=%s\n' "${page:-home}" "$key" \
    "${query:0:14}" "$(awk "BEGIN{print ${net:-0}*1000}")" "$kb" "$kb1" "$p50" "$runs" "$err"
done <<LIST
home - -
home safe_colours -
home presenter -
kernel_sandbox stride -
kernel_sandbox padding -
kernel_sandbox dilation -
kernel_sandbox padding_mode -
kernel_sandbox k_preset -
kernel_sandbox img_sample -
kernel_sandbox k_grid_1 -
kernel_sandbox k_norm -
kernel_sandbox relu -
kernel_sandbox flip -
kernel_sandbox safe_colours -
sliding_kernel sk_next -
sliding_kernel sk_back -
sliding_kernel sk_pos -
sliding_kernel sk_last -
sliding_kernel sk_source -
sliding_kernel sk_stride -
sliding_kernel sk_padding -
sliding_kernel sk_bias -
sliding_kernel sk_fps -
sliding_kernel sk_fig1_kernel -
sliding_kernel sk_next $DIGIT
sliding_kernel sk_pos $DIGIT
sliding_kernel sk_k_preset $DIGIT
sliding_kernel sk_stride $DIGIT
sliding_kernel sk_next $IMAGE
relu_pooling rp_pool -
relu_pooling rp_side -
relu_pooling rp_img_sample -
relu_pooling rp_bank -
relu_pooling rp_neg -
relu_pooling rp_cpad -
relu_pooling rp_act -
relu_pooling rp_psize -
relu_pooling rp_pstride -
relu_pooling rp_ppad -
relu_pooling rp_second -
relu_pooling rp_stage_4_relu -
relu_pooling rp_map_3_4 -
relu_pooling rp_wi_3_14x14 -
relu_pooling rp_part -
relu_pooling rp_ph -
relu_pooling rp_stack $RF
relu_pooling rp_blocks $RF
relu_pooling rp_dx $EQ
relu_pooling rp_dy $EQ
relu_pooling rp_eqmode $EQ
relu_pooling rp_eq_k $EQ
relu_pooling rp_curve_dir $EQ
LIST
