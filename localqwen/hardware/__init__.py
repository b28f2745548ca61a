"""What this machine has: NVIDIA GPUs through NVML, RAM and cores through psutil."""
