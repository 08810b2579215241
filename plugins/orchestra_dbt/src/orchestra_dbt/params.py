"""Parameter models of the dbt Cloud integration jobs."""

from __future__ import annotations

from attrs import frozen

from orchestra_core import parameter

__all__ = ("DbtRunJob",)


@frozen(kw_only=True)
class DbtRunJob:
    """Parameters of ``dbt_runjob``: run one dbt Cloud job and wait for the run to finish."""

    jobid: int = parameter(
        aliases=("runid", "connectionid", "job_id"),
        help="the dbt Cloud job id, an integer such as 123456",
    )
    account_id: int | None = parameter(
        default=None,
        help="the dbt Cloud account id; defaults to the account of the configured connection",
    )
    cause: str = parameter(
        default="Triggered by Orchestra", help="why the run was started, shown in dbt Cloud"
    )
    steps_override: tuple[str, ...] | None = parameter(
        default=None,
        help="dbt commands to run instead of the job's own steps, e.g. ['dbt build -s tag:daily']",
    )
    git_branch: str | None = parameter(
        default=None, help="run against this git branch instead of the job's default"
    )
    poll_interval: float = parameter(
        default=10.0, help="seconds between status checks while waiting (or e.g. '30s')"
    )
    wait_timeout: float | None = parameter(
        default=None,
        help="cancel the dbt Cloud run and fail after waiting this many seconds for it (or "
        "e.g. '2h'); no limit by default",
    )
