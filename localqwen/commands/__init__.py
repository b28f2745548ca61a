"""One module per area of `localqwen` subcommands; each has `register(subparsers)`.

Adding a command never touches another area's file, and `cli.py` stays a list.
"""

MODULES = ("doctor", "chat", "machine", "tiny", "serve", "pull", "ui")
