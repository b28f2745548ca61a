"""A Qwen3-style chat template: ChatML turns, `<think>` blocks, `enable_thinking`.

It follows the shape of Qwen3's own template: reasoning is stripped from earlier
assistant turns, and `enable_thinking=false` pre-fills an empty think block so the
model answers directly. The Qwen3.6 variant opens the think block in the prompt
itself when thinking is on, so the model's output starts inside it.
"""

QWEN3_CHAT_TEMPLATE = """\
{%- for message in messages -%}
{%- if message.role == 'assistant' -%}
{%- set content = message.content -%}
{%- if '</think>' in content -%}
{%- set content = content.split('</think>')[-1].lstrip('\\n') -%}
{%- endif -%}
{{- '<|im_start|>assistant\\n' + content + '<|im_end|>\\n' -}}
{%- else -%}
{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
{{- '<|im_start|>assistant\\n' -}}
{%- if enable_thinking is defined and enable_thinking is false -%}
{{- '<think>\\n\\n</think>\\n\\n' -}}
{%- endif -%}
{%- endif -%}
"""

QWEN36_CHAT_TEMPLATE = QWEN3_CHAT_TEMPLATE.replace(
    "{%- endif -%}\n{%- endif -%}\n",
    "{%- else -%}\n{{- '<think>\\n' -}}\n{%- endif -%}\n{%- endif -%}\n",
)

QWEN25_CHAT_TEMPLATE = """\
{%- if messages[0].role != 'system' -%}
{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' -}}
{%- endif -%}
{%- for message in messages -%}
{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
{{- '<|im_start|>assistant\\n' -}}
{%- endif -%}
"""
"""Qwen2.5's shape: ChatML with a default system turn, and no thinking mode at all."""
