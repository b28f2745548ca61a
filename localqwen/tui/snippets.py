"""Editor settings for a server on 127.0.0.1:PORT, as text ready to paste (no Textual here)."""

from __future__ import annotations


def llama_vim(port: int) -> str:
    return f"let g:llama_config = {{ 'endpoint': 'http://127.0.0.1:{port}/infill' }}"


def llama_vscode(port: int) -> str:
    return f'"llama-vscode.endpoint": "http://127.0.0.1:{port}"'


def continue_yaml(port: int, model: str, images: bool = False) -> str:
    """Completions through llama.cpp's provider, chat (and its agent's tools) through OpenAI's;
    `images`: a vision model, so Continue lets a person attach pictures (its `image_input`)."""
    return (
        "models:\n"
        f"  - name: localqwen autocomplete\n"
        f"    provider: llama.cpp\n"
        f"    model: {model}\n"
        f"    apiBase: http://127.0.0.1:{port}\n"
        f"    roles: [autocomplete]\n"
        f"  - name: localqwen chat\n"
        f"    provider: openai\n"
        f"    model: {model}\n"
        f"    apiBase: http://127.0.0.1:{port}/v1\n"
        f"    apiKey: unused\n"
        f"    roles: [chat, edit, apply]\n"
        f"    capabilities: [tool_use{', image_input' if images else ''}]"
    )


SNIPPETS = (("llama.vim", "vim"), ("llama.vscode", "vscode"), ("Continue", "continue"))


def snippet(kind: str, port: int, model: str, images: bool = False) -> str:
    if kind == "vim":
        return llama_vim(port)
    if kind == "vscode":
        return llama_vscode(port)
    return continue_yaml(port, model, images)
