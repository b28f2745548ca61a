"""A command palette entry (Ctrl+P) for every action the keys reach, and for each hardware profile."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING

from textual.app import SystemCommand

if TYPE_CHECKING:
    from localqwen.tui.app import LocalQwenApp

SCREEN_ACTIONS = (
    ("models", "details", "Build details", "The highlighted build's placement, context and split (Enter in Models)"),
    ("models", "clear_filter", "Clear the models filter", "Show every build again (Esc in Models)"),
    ("models", "download", "Download the build", "Fetch the highlighted build from the Hub (Ctrl+D in Models)"),
    ("download", "cancel", "Cancel the download", "Stop it; what was fetched is kept (Esc in Download)"),
    ("download", "again", "Resume the download", "Pull the same build again from where it stopped (r in Download)"),
    ("server", "toggle_server", "Start or stop the server", "Serve the loaded model to editors (Ctrl+S in Server)"),
    ("chat", "stop", "Stop the answer", "End the generation now (Esc in Chat)"),
    ("chat", "toggle_thinking", "Thinking on/off", "Let the model think before answering, or not (Ctrl+T)"),
    ("chat", "copy_code", "Copy the last code block", "From the last answer, to the clipboard (Ctrl+Y)"),
    ("chat", "new_chat", "New conversation", "Start over with the loaded model (Ctrl+N)"),
    ("chat", "history", "Open a saved conversation", "Conversations with this model, newest first (Ctrl+R)"),
)


def palette_commands(app: LocalQwenApp) -> Iterable[SystemCommand]:
    yield SystemCommand("Machine", "GPUs, RAM, llama.cpp build and the doctor's warnings (F1)", partial(app.switch_mode, "machine"))
    yield SystemCommand("Models", "Which Qwen builds fit, and how (F2)", partial(app.switch_mode, "models"))
    yield SystemCommand("Download", "A build being fetched, its files, speed and checks (F3)", partial(app.switch_mode, "download"))
    yield SystemCommand("Chat", "Chat with the loaded model (F4)", partial(app.switch_mode, "chat"))
    yield SystemCommand("Server", "Serve the loaded model: FIM for editors and the chat API (F5)", partial(app.switch_mode, "server"))
    for mode, action, title, help in SCREEN_ACTIONS:
        yield SystemCommand(title, help, partial(app.run_in_mode, mode, action))
    yield SystemCommand("Open a GGUF file", "Chat with a .gguf already on this disk, by its path", app.ask_for_file)
    yield SystemCommand("Plan for this machine", "Detect this machine's GPUs and plan for them", partial(app.use_hardware, None))
    for name in app.profiles:
        yield SystemCommand(f"Plan for profile {name}", "Plan as if on that machine (a hardware profile)", partial(app.use_hardware, name))
