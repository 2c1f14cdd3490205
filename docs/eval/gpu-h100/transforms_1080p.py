"""Model-only GPU timings of vaegan-f's transforms at 1080p (torch, CUDA): fp32 and fp16, batch 1 and 8."""
import time

import torch

from vidcodec.models import zoo

m = zoo.load("vaegan-f", backend="torch")
a, s = m.analysis, m.synthesis
print("device", zoo.torch_device(), torch.cuda.get_device_name(0))
for dtype in (torch.float32, torch.float16):
    for b in (1, 8):
        x = torch.rand(b, 3, 1088, 1920, device="cuda").contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=dtype == torch.float16):
            for name, f, inp in (("analysis", a, x), ("synthesis", s, a(x).float())):
                for _ in range(3): f(inp)
                torch.cuda.synchronize(); t = time.perf_counter(); n = 20
                for _ in range(n): f(inp)
                torch.cuda.synchronize(); dt = (time.perf_counter() - t) / n / b
                print(f"{name} {str(dtype)[6:]} batch {b}: {dt*1000:.2f} ms/frame = {1/dt:.0f} fps")
