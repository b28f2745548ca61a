"""Which models and builds exist, and what a GGUF file says about itself."""
