"""The lake's tables as the warehouse reads them: their Arrow schemas, derived from the model
in ``tasks/records.py`` by ``tasks/lake/schema.py`` (the warehouse imports the lake, never
the reverse)."""
from tasks.lake.schema import (  # noqa: F401
    DUPLICATES, FAILURES, ITEMS, LAKE_TABLES, LINEAGE, LINKS, RUNS, SCHEMAS, fields_of)
