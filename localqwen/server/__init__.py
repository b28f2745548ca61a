"""The socket editors and chat clients talk to: llama.cpp's /infill and /completion, OpenAI's /v1 routes."""
