"""HDF5-safe names for record ids (the per-id layout's ``<key>``), reversibly."""
from __future__ import annotations

import re

_ESCAPED = re.compile(r"%(25|2F|2E)")
_UNESCAPE = {"25": "%", "2F": "/", "2E": "."}


def id_to_key(record_id: str) -> str:
    """HDF5-safe dataset name of a record id (reversible, see :func:`key_to_id`)."""
    key = record_id.replace("%", "%25").replace("/", "%2F")
    return "%2E" + key[1:] if key.startswith(".") else key


def key_to_id(key: str) -> str:
    """The record id a dataset name stands for (inverse of :func:`id_to_key`)."""
    return _ESCAPED.sub(lambda m: _UNESCAPE[m.group(1)], key)
