"""The plan as JSON-ready dicts: the shape `localqwen plan --json` prints."""

from __future__ import annotations

from dataclasses import asdict

from localqwen.hardware.types import Hardware
from localqwen.plan.rank import projector_bytes
from localqwen.plan.types import Candidate


def hardware_json(hw: Hardware) -> dict[str, object]:
    data = asdict(hw)
    data["gpus"] = [
        {**gpu, "compute_capability": ".".join(map(str, gpu["compute_capability"])) if gpu["compute_capability"] else None}
        for gpu in data["gpus"]
    ]
    data["notes"] = list(hw.notes)
    return data


def candidate_json(c: Candidate) -> dict[str, object]:
    p = c.placement
    return {
        "model": c.model.id,
        "build": c.build.quant,
        "format": c.build.format,
        "runtime": c.build.runtime,
        "repo": c.build.repo,
        "community_upload": c.build.community,
        "size_bytes": c.build.size_bytes,
        "verdict": c.verdict,
        "placement": None if p is None else {
            "split_mode": p.split_mode,
            "tensor_split": list(p.tensor_split),
            "main_gpu": p.main_gpu,
            "n_gpu_layers": p.n_gpu_layers,
            "n_cpu_moe": p.n_cpu_moe,
            "n_ctx": p.n_ctx,
            "type_k": p.type_k,
            "type_v": p.type_v,
            "n_threads": p.n_threads,
            "n_threads_batch": p.n_threads_batch,
        },
        "memory": {
            "devices": [{"index": d.index, "name": d.name, "bytes": d.bytes} for d in c.devices],
            "host_bytes": c.host_bytes,
        },
        "est_decode_tok_s": c.est_decode_tok_s,
        "note": c.note,
        "vision": None if not c.build.mmproj else {
            "mmproj": c.build.mmproj,
            "mmproj_bytes": c.build.mmproj_bytes,
            "projector_bytes": 0 if c.text_only else projector_bytes(c.build),  # weights and compute, as planned
            "max_image_tokens": None if c.text_only or p is None else p.image_max_tokens,  # one image, at most
            "projector_gpu": None if c.text_only or p is None else p.projector_gpu,
            "text_only": c.text_only,
        },
    }


def plan_json(hw: Hardware, candidates: list[Candidate], choice: Candidate | None) -> dict[str, object]:
    return {
        "hardware": hardware_json(hw),
        "candidates": [candidate_json(c) for c in candidates],
        "choice": candidate_json(choice) if choice else None,
    }
