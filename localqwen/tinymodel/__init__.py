"""The tiny real Qwen GGUF that tests and the doctor's canary run on."""

from localqwen.tinymodel.writer import TinySpec, write_tiny_gguf

__all__ = ["TinySpec", "write_tiny_gguf"]
