"""The one strict base for every reviewed data file's schema: unknown keys fail loudly, values are frozen.

A typo in a YAML file ("lable:" for "label:") is an error with the file and field named, never a
silently ignored key.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
