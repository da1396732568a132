//! Reconcile runs: one row per attempt to converge one deployer on one cluster, opened
//! when the attempt starts and closed with its outcome, so history shows what happened
//! when, and a crash leaves visible `running` rows that [`Store::cancel_unfinished_runs`]
//! closes on the next start.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{ClusterId, DeployerId, DeployerKind, RunOutcome, Store, StoreError};

/// One reconcile attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ReconcileRun {
    pub id: i64,
    pub cluster_id: ClusterId,
    pub cluster_namespace: String,
    pub cluster_name: String,
    pub deployer_id: DeployerId,
    pub deployer_kind: DeployerKind,
    pub deployer_namespace: String,
    pub deployer_name: String,
    pub revision: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: RunOutcome,
    pub message: String,
    /// Objects created or changed by the apply.
    pub applied_count: i32,
    /// Objects deleted because they left the inventory.
    pub pruned_count: i32,
    /// Drifted objects found (and, per the drift mode, corrected) by this run.
    pub drifted_count: i32,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFinish {
    /// Anything but [`RunOutcome::Running`].
    pub outcome: RunOutcome,
    pub message: String,
    /// The revision, when only known once the run got going (e.g. after the fetch).
    pub revision: Option<String>,
    pub applied_count: i32,
    pub pruned_count: i32,
    pub drifted_count: i32,
}

/// Which runs [`Store::reconcile_history`] returns, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunHistoryQuery {
    pub cluster_id: Option<ClusterId>,
    pub deployer_id: Option<DeployerId>,
    /// Only runs started strictly before this instant (keyset paging).
    pub before: Option<DateTime<Utc>>,
    /// At most this many rows (capped at 1,000).
    pub limit: i64,
}

/// Select list for [`ReconcileRun`] over a relation named `r`.
macro_rules! run_select {
    () => {
        "SELECT r.id, r.cluster_id, c.namespace AS cluster_namespace, c.name AS cluster_name,
                r.deployer_id, d.kind AS deployer_kind, d.namespace AS deployer_namespace,
                d.name AS deployer_name, r.revision, r.started_at, r.finished_at, r.outcome,
                r.message, r.applied_count, r.pruned_count, r.drifted_count
           FROM r
           JOIN clusters c ON c.id = r.cluster_id
           JOIN deployers d ON d.id = r.deployer_id "
    };
}

/// History query bodies: `r` is the filtered, limited set of runs. Each filter combination
/// is its own statement so the planner picks the matching index rather than a generic plan.
macro_rules! history_query {
    ($filter:literal) => {
        concat!(
            "WITH r AS (SELECT * FROM reconcile_runs WHERE ",
            $filter,
            " AND ($3::timestamptz IS NULL OR started_at < $3)
              ORDER BY started_at DESC, id DESC LIMIT $4) ",
            run_select!(),
            "ORDER BY r.started_at DESC, r.id DESC"
        )
    };
}

const MAX_HISTORY: i64 = 1_000;

impl Store {
    /// Opens a run in state `running`, started now.
    pub async fn start_run(
        &self,
        cluster_id: ClusterId,
        deployer_id: DeployerId,
        revision: Option<&str>,
    ) -> Result<ReconcileRun, StoreError> {
        let row = sqlx::query_as::<_, ReconcileRun>(concat!(
            "WITH r AS (INSERT INTO reconcile_runs (cluster_id, deployer_id, revision)
                        VALUES ($1, $2, $3) RETURNING *) ",
            run_select!()
        ))
        .bind(cluster_id)
        .bind(deployer_id)
        .bind(revision)
        .fetch_one(&self.pool)
        .await?;
        Ok(row)
    }

    /// Closes a running run with its outcome. Fails with [`StoreError::NotFound`] when the
    /// run does not exist or was already closed, so a run is never closed twice.
    pub async fn finish_run(
        &self,
        run_id: i64,
        finish: &RunFinish,
    ) -> Result<ReconcileRun, StoreError> {
        if finish.outcome == RunOutcome::Running {
            return Err(StoreError::InvalidValue {
                what: "outcome of a finished run",
                value: finish.outcome.to_string(),
            });
        }
        let row = sqlx::query_as::<_, ReconcileRun>(concat!(
            "WITH r AS (UPDATE reconcile_runs
                           SET finished_at = greatest(now(), started_at), outcome = $2,
                               message = $3, revision = COALESCE($4, revision),
                               applied_count = $5, pruned_count = $6, drifted_count = $7
                         WHERE id = $1 AND outcome = 'running'
                     RETURNING *) ",
            run_select!()
        ))
        .bind(run_id)
        .bind(finish.outcome)
        .bind(&finish.message)
        .bind(finish.revision.as_deref())
        .bind(finish.applied_count)
        .bind(finish.pruned_count)
        .bind(finish.drifted_count)
        .fetch_optional(&self.pool)
        .await?;
        row.ok_or_else(|| StoreError::NotFound(format!("running reconcile run {run_id}")))
    }

    /// Closes every run still `running` as `cancelled`: called at hub start, when no run
    /// can be in flight. Returns how many were closed.
    pub async fn cancel_unfinished_runs(&self, message: &str) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "UPDATE reconcile_runs
                SET outcome = 'cancelled', finished_at = greatest(now(), started_at), message = $1
              WHERE outcome = 'running'",
        )
        .bind(message)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }

    /// Reconcile history per cluster, per deployer, per both, or fleet-wide; newest first.
    pub async fn reconcile_history(
        &self,
        query: &RunHistoryQuery,
    ) -> Result<Vec<ReconcileRun>, StoreError> {
        let sql = match (query.cluster_id, query.deployer_id) {
            (Some(_), Some(_)) => history_query!("cluster_id = $1 AND deployer_id = $2"),
            (Some(_), None) => history_query!("cluster_id = $1 AND $2::bigint IS NULL"),
            (None, Some(_)) => history_query!("$1::bigint IS NULL AND deployer_id = $2"),
            (None, None) => history_query!("$1::bigint IS NULL AND $2::bigint IS NULL"),
        };
        let rows = sqlx::query_as::<_, ReconcileRun>(sql)
            .bind(query.cluster_id)
            .bind(query.deployer_id)
            .bind(query.before)
            .bind(query.limit.clamp(0, MAX_HISTORY))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows)
    }
}
