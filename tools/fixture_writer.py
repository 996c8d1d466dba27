"""Writes a dict of torch tensors as a safetensors file, for the fixture generators (tools/make_torch_fixtures*.py).

safetensors by hand (no extra package): an 8-byte little-endian header length, a JSON header padded with spaces to
8 bytes, then the raw little-endian row-major data in name order. int64 tensors are stored as I64, everything else
as F64, so the output of a deterministic generator is the same bytes on every run.
"""
import json
import struct
import sys
from pathlib import Path

import torch


def write_safetensors(tensors, out, metadata):
    """metadata: strings for the header's __metadata__ (the generator script and torch.__version__ at least)."""
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        dtype, fmt = ("I64", "<i8") if t.dtype == torch.int64 else ("F64", "<f8")
        data = t.to(torch.int64 if dtype == "I64" else torch.float64).numpy().astype(fmt).tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - len(text) % 8) % 8)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text.encode())
        for blob in blobs:
            f.write(blob)
    tmp.replace(out)
    print(f"wrote {out} ({out.stat().st_size} bytes, {len(tensors)} tensors, torch {torch.__version__})", file=sys.stderr)
