"""This session's GPUs (NVML) and which of this server's kernels use them (issue 11, item 1).

nvml.py reads NVML (thin) and shapes the answer (pure); kernels.py maps NVML processes to
this server's kernels and notebooks; magics.py is `%swan gpu` / `swan-ml gpu`."""
