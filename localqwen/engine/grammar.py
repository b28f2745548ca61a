"""Structured output: the GBNF grammars llama.cpp samples under, from a JSON schema.

llama-cpp-python ships llama.cpp's own JSON-schema-to-grammar converter; a schema it
cannot take (an external `$ref`, an unknown type) is the person's input to fix, said in
one line. The grammar itself is checked against the vocabulary when a stream is made
(`LlamaEngine.generate`), so a bad one is refused before any answer starts.
"""

from __future__ import annotations

import json

from llama_cpp.llama_grammar import json_schema_to_gbnf

from localqwen.engine.errors import GrammarError

ANY_OBJECT = {"type": "object"}


def json_schema_grammar(schema: object, *, what: str = "the JSON schema") -> str:
    """GBNF for answers that are JSON valid under `schema`."""
    if not isinstance(schema, dict):
        raise GrammarError(f"{what} must be a JSON object")
    try:
        return json_schema_to_gbnf(json.dumps(schema))
    except (AssertionError, ValueError, KeyError, TypeError, RecursionError) as exc:
        why = str(exc) or type(exc).__name__
        if "remote schemas" in why:  # the converter's words name its own command-line flag
            why = "a $ref to another document (only refs inside the schema, #/..., are followed)"
        raise GrammarError(f"{what} cannot be turned into a grammar: {why}") from None
