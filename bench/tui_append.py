"""How long the TUI takes to put one streamed piece of an answer on screen.

`AnswerTurn.write` awaits `Markdown.append` for each piece (tui/widgets/chat_turn.py);
`stream_reply` sends at most 30 pieces a second, so each append must take well under
33 ms or the screen falls behind a fast model. This appends a long Markdown answer
(paragraphs, a list, a code block: what Qwen writes) piece by piece in a headless app
and prints the time per piece, as the document grows.

    python bench/tui_append.py [--pieces 900]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from textual.app import App, ComposeResult

from localqwen.tui.widgets.chat_turn import AnswerTurn

PARAGRAPH = ("The sky looks blue because air scatters short wavelengths of sunlight more than long ones, "
             "so blue light reaches the eye from every direction. ")
ANSWER = (PARAGRAPH * 3 + "\n\n- first point\n- second point with `code`\n\n```python\ndef f(x):\n    return x * 2\n```\n\n") * 40


async def run(pieces: int) -> list[float]:
    words = ANSWER.split(" ")
    step = max(1, len(words) // pieces)
    chunks = [" ".join(words[i:i + step]) + " " for i in range(0, len(words), step)][:pieces]

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield AnswerTurn("model")

    times: list[float] = []
    async with Host().run_test(size=(100, 40)) as pilot:
        turn = pilot.app.query_one(AnswerTurn)
        for chunk in chunks:
            started = time.perf_counter()
            await turn.write("content", chunk)
            times.append((time.perf_counter() - started) * 1000)
        await pilot.pause()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pieces", type=int, default=900, help="pieces to append (30 a second: 900 is 30 s of answer)")
    args = parser.parse_args()
    times = asyncio.run(run(args.pieces))
    tenth = max(1, len(times) // 10)
    for at in range(0, len(times), tenth):
        part = times[at:at + tenth]
        print(f"pieces {at:4d}-{at + len(part) - 1:4d}: median {statistics.median(part):6.2f} ms, "
              f"max {max(part):6.2f} ms per append")
    print(f"all {len(times)}: median {statistics.median(times):.2f} ms, p95 {sorted(times)[int(len(times) * 0.95)]:.2f} ms "
          f"(the budget at 30 pieces a second is 33 ms)")


if __name__ == "__main__":
    main()
