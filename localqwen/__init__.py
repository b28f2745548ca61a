"""localqwen: a local runner for Qwen models (GGUF via llama.cpp)."""

__version__ = "0.1.0"
