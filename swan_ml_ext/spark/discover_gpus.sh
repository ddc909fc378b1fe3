#!/bin/sh
# Spark GPU discovery script (spark.*.resource.gpu.discoveryScript): prints
# {"name":"gpu","addresses":[...]} with the GPUs nvidia-smi lists; without nvidia-smi (or when
# it fails), the comma-separated indices in SWAN_FAKE_GPUS (tests fake GPUs with "0,1");
# else no addresses.
addresses=""
if command -v nvidia-smi >/dev/null 2>&1; then
    addresses=$(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null | tr -d ' ' \
        | grep -E '^[0-9]+$' | paste -sd, -)
fi
if [ -z "$addresses" ] && [ -n "${SWAN_FAKE_GPUS:-}" ]; then
    addresses=$(printf '%s' "$SWAN_FAKE_GPUS" | tr -d ' ' | tr ',' '\n' \
        | grep -E '^[0-9A-Za-z_-]+$' | paste -sd, -)
fi
list=""
if [ -n "$addresses" ]; then
    list=$(printf '%s' "$addresses" | sed 's/[^,]*/"&"/g')
fi
printf '{"name":"gpu","addresses":[%s]}\n' "$list"
