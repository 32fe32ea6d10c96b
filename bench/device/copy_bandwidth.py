# Device-to-device copy bandwidth (read + write), the roofline that decode is measured
# against: the median of 10 copies of 2 GiB after 3 warm-up copies.  Prints one line whose
# last field is GB/s.  Used by cuda_check.sh and full_model.sh.
import torch

x = torch.empty(2 * 1024**3 // 4, dtype=torch.float32, device="cuda")
y = torch.empty_like(x)
for _ in range(3):
    y.copy_(x)
torch.cuda.synchronize()
s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
times = []
for _ in range(10):
    s.record()
    y.copy_(x)
    e.record()
    torch.cuda.synchronize()
    times.append(s.elapsed_time(e) / 1e3)
t = sorted(times)[len(times) // 2]
print("device-to-device copy (read + write, median of 10 copies of 2 GiB) GB/s: %.1f" % (2 * x.numel() * 4 / t / 1e9))
