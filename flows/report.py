"""What a run tells Prefect: its final state, its artifact, and who started it."""
from __future__ import annotations

from prefect.artifacts import create_markdown_artifact
from prefect.states import Completed, Failed

from tasks.records import NOT_STORED, run_outcome
from tasks.sources.uri import display

ARTIFACT_KEY = "ingest-run"


def prefect_run() -> dict:
    """The ``runs`` columns that come from Prefect: the flow run id and what triggered it."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    run = ctx.flow_run if ctx else None
    if run is None:
        return {}
    trigger = ("schedule" if run.auto_scheduled else "deployment" if run.deployment_id else "manual")
    return {"flow_run_id": str(run.id), "trigger": trigger}


def final_state(summary: dict):
    """The flow's return value: the summary in a state whose type and name say what happened
    (``tasks.records.RUN_OUTCOMES``): completed → the summary (Completed); skipped, empty →
    Completed named ``Skipped``, ``Empty``; partial, failed → Failed named ``Partial``,
    ``Failed`` (a FAILED state: alerts fire)."""
    status, outcome = summary["status"], run_outcome(summary["status"])
    if status == "completed":
        return summary
    if outcome.state == "COMPLETED":
        message = (summary.get("message") if status == "skipped"
                   else f"{display(summary['source'])} offers no item to ingest")
        return Completed(name=outcome.name, message=message, data=summary)
    message = (f"{summary.get('items_failed', 0)} of {summary['items_seen']} items failed: "
               + "; ".join(summary["failures"][:3]))
    return Failed(name=outcome.name, message=message[:500], data=summary)


def quality_section(data_root, log) -> str:
    """The artifact's data-quality section: per volume, the shares now beside the previous
    run's (``tasks.quality``); a drop of more than 5 points is a warning in ``log``."""
    from tasks import quality
    from warehouse import db

    with db.connect(db.warehouse_path(data_root), read_only=True) as con:
        cur = con.execute("SELECT * FROM quality")
        names = [d[0] for d in cur.description]
        now = {row[0]: dict(zip(names[1:], row[1:])) for row in cur.fetchall()}
    before = quality.previous(data_root)
    for line in quality.drops(now, before):
        log.warning("quality dropped: %s", line)
    quality.record(data_root, now)
    return ("\n\n## Data quality (percent of documents; the previous run's in brackets)\n\n"
            + quality.table(now, before) + "\n")


def publish(summary: dict, quality: str = "") -> None:
    """The run-report artifact: the counts, a table per volume, failures and reject reasons,
    and ``quality`` (:func:`quality_section`)."""
    counts = "\n".join(f"| {k} | {_cell(v)} |" for k, v in summary.items()
                       if k not in (*NOT_STORED, "volumes"))
    volumes = "\n".join(f"| {_cell(r['name'])} | {r['outcome']} | {r['documents']} | {r['rejects']} | "
                        f"{'' if r['seconds'] is None else r['seconds']} |" for r in summary["volumes"])
    reasons: dict[str, int] = {}
    for r in summary["volumes"]:
        if r["outcome"] != "failed":
            for reason, n in r["reasons"].items():
                reasons[reason] = reasons.get(reason, 0) + n
    create_markdown_artifact(
        key=ARTIFACT_KEY,
        markdown=(f"# Ingest run {summary['run_id']}: {summary['status']}\n\n"
                  f"| field | value |\n|---|---|\n{counts}\n\n"
                  "## Volumes read\n\n| item | outcome | documents | rejects | seconds |\n|---|---|---|---|---|\n"
                  f"{volumes or '| (none: nothing new or changed) | | | | |'}\n\n"
                  "## Failures\n\n" + ("\n".join(f"- {_cell(f)}" for f in summary["failures"]) or "none") +
                  "\n\n## Rejects by reason\n\n| reason | documents |\n|---|---|\n" +
                  ("\n".join(f"| {_cell(k)} | {n} |" for k, n in sorted(reasons.items(), key=lambda kv: -kv[1]))
                   or "| none | 0 |") + "\n" + quality),
        description=f"FRUS ingest run {summary['run_id']}: {summary['status']}",
    )


def _cell(value) -> str:
    """A value in a Markdown table cell: one line, no column break."""
    return str(value).replace("|", "\\|").replace("\n", " ")
