"""The records database: conversation log, feedback, clinician reviews, approved answers, call-backs.

`Records(settings.records_url)` is the only way in; see `assistant/records/store.py`.
"""

from assistant.records.errors import RecordNotFound, RecordsError
from assistant.records.store import Records

__all__ = ["RecordNotFound", "Records", "RecordsError"]
