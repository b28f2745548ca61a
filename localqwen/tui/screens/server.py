"""Screen 5, Server: the FIM socket and the chat API, started and stopped from here, in this process.

It serves the model loaded in the Chat screen: chat on that engine, completions on the
side `launch` decided when the model was loaded (a second context over the same file,
planned with room kept for it, as `localqwen serve` does), so a completion never stops
a chat answer; the second context lives as long as the server. A vLLM model serves
both from one backend, which cancels per stream.
Starting and stopping run in a thread worker; the server's own thread logs one line
per request on the `localqwen.server` logger, and a handler posts each line here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Log, Static

from localqwen.errors import LocalQwenError, UserInputError
from localqwen.launch import DEFAULT_FIM_CTX
from localqwen.server.settings import DEFAULT_PORT, PortError
from localqwen.tui.messages import LoadedModel
from localqwen.tui.snippets import SNIPPETS, snippet

if TYPE_CHECKING:
    from localqwen.server.run import BackgroundServer
    from localqwen.tui.app import LocalQwenApp

NO_MODEL = "No model loaded: load one first (Models, F2), then serve it from here."
SHARED = ("Chat (/v1/chat/completions) uses the Chat screen's model; completions (/infill) get a second "
          f"context over the same file (up to {DEFAULT_FIM_CTX} tokens), so they never stop a chat answer.")
ONE_BACKEND = ("Chat and completions share the model's runtime; each request is its own stream, so a newer "
               "completion cancels only the one it replaces, never a chat answer.")
server_log = logging.getLogger("localqwen.server")


class PostingHandler(logging.Handler):
    """Each log record, from whatever thread, becomes a message to the screen (post_message is thread-safe)."""

    def __init__(self, screen: ServerScreen) -> None:
        super().__init__(logging.INFO)
        self.screen = screen
        self.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        self.screen.post_message(ServerScreen.LogLine(self.format(record)))


def parse_port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise UserInputError(f"port {text!r}: a number from 1 to 65535", fix=f"the default is {DEFAULT_PORT}")
    return port


class ServerScreen(Screen[None]):
    TITLE = "Server"
    BINDINGS = [
        Binding("ctrl+s", "toggle_server", "Start/Stop", id="server.toggle"),
    ]

    state: reactive[str] = reactive("stopped", init=False)  # stopped, starting, running, stopping

    @dataclass
    class Started(Message):
        server: BackgroundServer

    @dataclass
    class StartFailed(Message):
        error: LocalQwenError

    @dataclass
    class Stopped(Message):
        pass

    @dataclass
    class LogLine(Message):
        text: str

    def __init__(self) -> None:
        super().__init__()
        self.handler = PostingHandler(self)
        self.level = server_log.level

    @property
    def main(self) -> LocalQwenApp:
        return cast("LocalQwenApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="server-model", classes="card") as card:
            card.border_title = "Model"
            yield Static(NO_MODEL, id="server-model-text")
        with Horizontal(id="server-bar"):
            yield Label("Port", classes="control-label")
            yield Input(str(DEFAULT_PORT), type="integer", max_length=5, id="port")
            yield Button("Start", id="start", variant="primary", compact=True)
            yield Button("Stop", id="stop", compact=True, disabled=True)
            yield Static("stopped", id="server-address")
        with Vertical(id="server-snippets", classes="card") as card:
            card.border_title = "Editor settings"
            yield Static(id="snippets", markup=False)
            with Horizontal(id="copy-buttons"):
                for title, kind in SNIPPETS:
                    yield Button(f"Copy {title}", id=f"copy-{kind}", compact=True)
        with Vertical(id="server-requests", classes="card") as card:
            card.border_title = "Requests"
            yield Log(id="server-log", max_lines=500)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#port", Input).cursor_blink = self.main.settings.cursor_blink
        self.watch(self.main, "loaded", self.show_model)
        self.show_snippets()

    def show_model(self, loaded: LoadedModel | None) -> None:
        if loaded is None:
            text = Text(NO_MODEL, style="yellow")
        else:
            text = Text.assemble((loaded.label, "bold"), f"\n{SHARED if loaded.fim is not None else ONE_BACKEND}")
        self.query_one("#server-model-text", Static).update(text)
        self.show_snippets()

    def model_name(self) -> str:
        loaded = self.main.loaded
        return loaded.engine.info.name if loaded else "MODEL"

    def sees(self) -> bool:
        loaded = self.main.loaded
        return loaded is not None and loaded.engine.info.vision

    @on(Input.Changed, "#port")
    def show_snippets(self) -> None:
        text = self.query_one("#port", Input).value
        port = int(text) if text.isdigit() else DEFAULT_PORT
        vim, vscode, cont = (snippet(kind, port, self.model_name(), self.sees()) for _, kind in SNIPPETS)
        # As Text: no markup ("[autocomplete]" is YAML), and the YAML keeps its indentation.
        self.query_one("#snippets", Static).update(Text(f"llama.vim     {vim}\nllama.vscode  {vscode}\nContinue (config.yaml):\n{cont}"))

    @on(Button.Pressed, "#copy-vim")
    @on(Button.Pressed, "#copy-vscode")
    @on(Button.Pressed, "#copy-continue")
    def copy_snippet(self, event: Button.Pressed) -> None:
        kind = (event.button.id or "").removeprefix("copy-")
        text = self.query_one("#port", Input).value
        port = int(text) if text.isdigit() else DEFAULT_PORT
        self.app.copy_to_clipboard(snippet(kind, port, self.model_name(), self.sees()))
        self.notify(f"Copied the {dict((k, t) for t, k in SNIPPETS)[kind]} settings.")

    # --- start and stop --------------------------------------------------------------

    def watch_state(self, state: str) -> None:
        self.query_one("#start", Button).disabled = state != "stopped"
        self.query_one("#stop", Button).disabled = state != "running"
        self.query_one("#port", Input).disabled = state != "stopped"
        if state != "running":
            self.query_one("#server-address", Static).update(state)

    def action_toggle_server(self) -> None:
        if self.state == "stopped":
            self.start_server()
        elif self.state == "running":
            self.stop_server()

    @on(Button.Pressed, "#start")
    @on(Input.Submitted, "#port")
    def start_server(self) -> None:
        loaded = self.main.loaded
        if loaded is None:
            self.notify(NO_MODEL, severity="warning")
            return
        try:
            port = parse_port(self.query_one("#port", Input).value)
        except UserInputError as exc:
            self.notify(exc.one_line(), title=exc.title, severity="error")
            return
        self.state = "starting"
        self.serve(loaded, port)

    @on(Button.Pressed, "#stop")
    def stop_server(self) -> None:
        server = self.main.server
        if server is not None and self.state == "running":
            self.state = "stopping"
            self.shut(server)

    @work(thread=True, exclusive=True, exit_on_error=False, group="server")
    def serve(self, loaded: LoadedModel, port: int) -> None:
        from localqwen.server.app import create_app
        from localqwen.server.host import ModelHost
        from localqwen.server.run import open_socket, serve_in_background
        from localqwen.server.settings import ServerSettings

        settings = ServerSettings(port=port)
        try:
            sock = open_socket(settings)
        except LocalQwenError as exc:
            self.post_message(self.StartFailed(exc))
            return
        try:
            fim = loaded.fim.load() if loaded.fim is not None else None
        except LocalQwenError as exc:
            sock.close()
            self.post_message(self.StartFailed(exc))
            return
        host = ModelHost(loaded.engine.info.name, lambda: loaded.engine, (lambda: fim) if fim is not None else None)
        host.load()  # both engines are loaded already: this only hands them over
        on_stop = fim.close if fim is not None else None
        self.post_message(self.Started(serve_in_background(create_app(host, settings), sock, on_stop=on_stop)))

    @work(thread=True, exclusive=True, exit_on_error=False, group="server")
    def shut(self, server: BackgroundServer) -> None:
        server.stop()  # closes the completion context; the chat engine belongs to the Chat screen
        self.post_message(self.Stopped())

    def on_server_screen_started(self, message: Started) -> None:
        self.main.server = message.server
        if self.handler not in server_log.handlers:
            self.level = server_log.level
            server_log.addHandler(self.handler)
            if server_log.getEffectiveLevel() > logging.INFO:
                server_log.setLevel(logging.INFO)
        self.state = "running"
        address = message.server.address
        self.query_one("#server-address", Static).update(Text(address, style="bold green"))
        self.query_one("#server-log", Log).write_line(f"listening on {address}")

    def on_server_screen_start_failed(self, message: StartFailed) -> None:
        self.state = "stopped"
        error = message.error
        if isinstance(error, PortError):  # the CLI's advice (--port) is the Port field here
            self.notify(f"{error}: another server may hold it. Type another port above and start again.",
                        title=error.title, severity="error")
            return
        self.notify(error.one_line(), title=error.title, severity="error")

    def on_server_screen_stopped(self) -> None:
        self.main.server = None
        server_log.removeHandler(self.handler)
        server_log.setLevel(self.level)
        self.state = "stopped"
        self.query_one("#server-log", Log).write_line("stopped")

    def on_server_screen_log_line(self, message: LogLine) -> None:
        self.query_one("#server-log", Log).write_line(message.text)

    def on_unmount(self) -> None:
        server_log.removeHandler(self.handler)
