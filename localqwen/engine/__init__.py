"""One loaded model behind one narrow interface (`Backend`); only this package imports llama_cpp."""
