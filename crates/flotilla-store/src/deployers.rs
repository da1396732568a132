//! Deployers (Kustomizations and HelmReleases) and their state on each cluster: which
//! revision runs where, whether it is ready, and how many of its objects have drifted.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{ClusterId, DeployerId, DeployerKind, DeployerStatus, Store, StoreError};

/// A `Kustomization` or `HelmRelease` on the management cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Deployer {
    pub id: DeployerId,
    pub kind: DeployerKind,
    pub namespace: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// One deployer on one cluster, with both sides' names so API and CLI need no second
/// lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct DeployerState {
    pub cluster_id: ClusterId,
    pub cluster_namespace: String,
    pub cluster_name: String,
    pub deployer_id: DeployerId,
    pub deployer_kind: DeployerKind,
    pub deployer_namespace: String,
    pub deployer_name: String,
    /// Last revision applied successfully; `None` until the first success.
    pub applied_revision: Option<String>,
    /// Revision of the latest attempt, successful or not.
    pub attempted_revision: Option<String>,
    pub status: DeployerStatus,
    pub message: String,
    /// Open drift events for this deployer on this cluster, kept in step by the drift
    /// functions.
    pub drifted_count: i32,
    pub last_applied_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// A worker's report after (or during) reconciling one deployer on one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployerStateUpdate {
    pub cluster_id: ClusterId,
    pub deployer_id: DeployerId,
    pub status: DeployerStatus,
    pub message: String,
    /// The revision this attempt worked on, if it got as far as having one.
    pub attempted_revision: Option<String>,
    /// Set when this attempt applied successfully; `None` keeps the previous applied
    /// revision (a failed upgrade leaves the old revision running).
    pub applied_revision: Option<String>,
}

/// How many clusters run a given revision of one deployer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct RevisionCount {
    /// `None` for clusters where nothing was applied yet.
    pub revision: Option<String>,
    pub clusters: i64,
    pub ready: i64,
}

/// Select list for [`DeployerState`] over `$states s` (the table, or rows an upsert
/// returned), `clusters c`, `deployers d`.
macro_rules! state_select {
    ($states:literal) => {
        concat!(
            "SELECT s.cluster_id, c.namespace AS cluster_namespace, c.name AS cluster_name,
                    s.deployer_id, d.kind AS deployer_kind, d.namespace AS deployer_namespace,
                    d.name AS deployer_name, s.applied_revision, s.attempted_revision, s.status,
                    s.message, s.drifted_count, s.last_applied_at, s.updated_at
               FROM ",
            $states,
            " s
               JOIN clusters c ON c.id = s.cluster_id
               JOIN deployers d ON d.id = s.deployer_id "
        )
    };
}

impl Store {
    /// Creates the deployer if new; returns it with its id either way.
    pub async fn upsert_deployer(
        &self,
        kind: DeployerKind,
        namespace: &str,
        name: &str,
    ) -> Result<Deployer, StoreError> {
        // The no-op update makes RETURNING yield the existing row on conflict.
        let row = sqlx::query_as::<_, Deployer>(
            "INSERT INTO deployers (kind, namespace, name) VALUES ($1, $2, $3)
             ON CONFLICT (kind, namespace, name) DO UPDATE SET kind = EXCLUDED.kind
             RETURNING id, kind, namespace, name, created_at",
        )
        .bind(kind)
        .bind(namespace)
        .bind(name)
        .fetch_one(&self.pool)
        .await?;
        Ok(row)
    }

    /// Every deployer, by kind, namespace and name.
    pub async fn list_deployers(&self) -> Result<Vec<Deployer>, StoreError> {
        let rows = sqlx::query_as::<_, Deployer>(
            "SELECT id, kind, namespace, name, created_at FROM deployers
              ORDER BY kind, namespace, name",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Forgets a deployer and everything recorded about it on every cluster.
    pub async fn delete_deployer(&self, id: DeployerId) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM deployers WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Records the latest state of a deployer on a cluster and returns the stored row.
    pub async fn record_deployer_state(
        &self,
        update: &DeployerStateUpdate,
    ) -> Result<DeployerState, StoreError> {
        let row = sqlx::query_as::<_, DeployerState>(concat!(
            "WITH upserted AS (INSERT INTO deployer_states AS s
                 (cluster_id, deployer_id, applied_revision, attempted_revision, status, message,
                  last_applied_at, drifted_count)
             VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $3::text IS NULL THEN NULL ELSE now() END,
                     -- Drift may have been recorded before the first state report.
                     (SELECT count(*) FROM drift_events
                       WHERE cluster_id = $1 AND deployer_id = $2 AND resolved_at IS NULL))
             ON CONFLICT (cluster_id, deployer_id) DO UPDATE
                 SET applied_revision = COALESCE(EXCLUDED.applied_revision, s.applied_revision),
                     attempted_revision = COALESCE(EXCLUDED.attempted_revision,
                                                   s.attempted_revision),
                     status = EXCLUDED.status,
                     message = EXCLUDED.message,
                     last_applied_at = COALESCE(EXCLUDED.last_applied_at, s.last_applied_at),
                     updated_at = now()
             RETURNING *) ",
            state_select!("upserted")
        ))
        .bind(update.cluster_id)
        .bind(update.deployer_id)
        .bind(update.applied_revision.as_deref())
        .bind(update.attempted_revision.as_deref())
        .bind(update.status)
        .bind(&update.message)
        .fetch_optional(&self.pool)
        .await?;
        row.ok_or_else(|| {
            StoreError::NotFound(format!(
                "deployer state of deployer {} on cluster {}",
                update.deployer_id, update.cluster_id
            ))
        })
    }

    /// The state of one deployer on one cluster, if it was ever recorded.
    pub async fn deployer_state(
        &self,
        cluster_id: ClusterId,
        deployer_id: DeployerId,
    ) -> Result<Option<DeployerState>, StoreError> {
        let row = sqlx::query_as::<_, DeployerState>(concat!(
            state_select!("deployer_states"),
            "WHERE s.cluster_id = $1 AND s.deployer_id = $2"
        ))
        .bind(cluster_id)
        .bind(deployer_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row)
    }

    /// What runs on one cluster: every deployer's state there (the `ClusterSync` view).
    pub async fn cluster_deployer_states(
        &self,
        cluster_id: ClusterId,
    ) -> Result<Vec<DeployerState>, StoreError> {
        let rows = sqlx::query_as::<_, DeployerState>(concat!(
            state_select!("deployer_states"),
            "WHERE s.cluster_id = $1 ORDER BY d.kind, d.namespace, d.name"
        ))
        .bind(cluster_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Where one deployer runs: its state on every cluster it was recorded on.
    pub async fn deployer_cluster_states(
        &self,
        deployer_id: DeployerId,
    ) -> Result<Vec<DeployerState>, StoreError> {
        let rows = sqlx::query_as::<_, DeployerState>(concat!(
            state_select!("deployer_states"),
            "WHERE s.deployer_id = $1 ORDER BY c.namespace, c.name"
        ))
        .bind(deployer_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Which revisions of one deployer run across the fleet and on how many clusters,
    /// most widespread first (a rollout in progress shows two rows).
    pub async fn deployer_revisions(
        &self,
        deployer_id: DeployerId,
    ) -> Result<Vec<RevisionCount>, StoreError> {
        let rows = sqlx::query_as::<_, RevisionCount>(
            "SELECT applied_revision AS revision, count(*) AS clusters,
                    count(*) FILTER (WHERE status = 'ready') AS ready
               FROM deployer_states WHERE deployer_id = $1
              GROUP BY applied_revision
              ORDER BY clusters DESC, revision NULLS LAST",
        )
        .bind(deployer_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Drops the state (and inventory) of a deployer on a cluster it no longer targets;
    /// runs and drift history stay.
    pub async fn forget_deployer_on_cluster(
        &self,
        cluster_id: ClusterId,
        deployer_id: DeployerId,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM inventory_entries WHERE cluster_id = $1 AND deployer_id = $2")
            .bind(cluster_id)
            .bind(deployer_id)
            .execute(&mut *tx)
            .await?;
        let result =
            sqlx::query("DELETE FROM deployer_states WHERE cluster_id = $1 AND deployer_id = $2")
                .bind(cluster_id)
                .bind(deployer_id)
                .execute(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(result.rows_affected() > 0)
    }
}
