"""The terminal UI (Textual): the machine, the models that fit it, and a chat.

Only the faces import this package; the core never does. `make_app` builds the app.
"""
