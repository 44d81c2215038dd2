"""The lake: the truth of the pipeline, as DuckLake tables (catalog + Parquet data files).

``duck`` opens DuckDB with extensions loaded by path; ``catalog`` attaches the lake, reads
its state and commits a run in one transaction; ``staging`` is where workers write a volume's
rows before the commit takes them; ``dedupe`` matches a run's new documents against the
stored signatures.
"""
