"""/swan-ml-ext/gpu: this session's GPUs (NVML) and which kernels use them. Answered from the
sampler's cache (one NVML read per interval however many clients poll); 200 with
`available: false` where there is no NVML or no GPU. Shape: gpu/nvml.py, openapi.yaml."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..gpu.nvml import GpuSampler
from .base import SwanMLHandler


class GpuHandler(SwanMLHandler):
    @property
    def gpu(self) -> GpuSampler:
        return self.settings["swan_ml_ext_gpu"]

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply_text(await self.gpu.text())
