//! Managed workload clusters: identity, labels (for `clusterSelector`) and reachability.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use crate::{ClusterId, Store, StoreError};

/// A Cluster API `Cluster` the hub manages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Cluster {
    pub id: ClusterId,
    pub namespace: String,
    pub name: String,
    #[sqlx(json)]
    pub labels: BTreeMap<String, String>,
    pub reachable: bool,
    /// Why the cluster is unreachable; empty when it is reachable.
    pub message: String,
    /// Last time the hub reached the cluster's API server.
    pub last_seen_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What discovery knows about a cluster; [`Store::upsert_cluster`] keeps reachability as is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterUpsert {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// The columns [`Cluster`] reads, as a literal so queries stay `&'static str` via `concat!`.
macro_rules! cluster_columns {
    () => {
        "id, namespace, name, labels, reachable, message, last_seen_at, created_at, updated_at"
    };
}

impl Store {
    /// Creates the cluster or updates its labels; returns the stored row with its id.
    pub async fn upsert_cluster(&self, cluster: &ClusterUpsert) -> Result<Cluster, StoreError> {
        let row = sqlx::query_as::<_, Cluster>(concat!(
            "INSERT INTO clusters (namespace, name, labels) VALUES ($1, $2, $3)
             ON CONFLICT (namespace, name) DO UPDATE
                 SET labels = EXCLUDED.labels,
                     updated_at = CASE WHEN clusters.labels = EXCLUDED.labels
                                       THEN clusters.updated_at ELSE now() END
             RETURNING ",
            cluster_columns!()
        ))
        .bind(&cluster.namespace)
        .bind(&cluster.name)
        .bind(Json(&cluster.labels))
        .fetch_one(&self.pool)
        .await?;
        Ok(row)
    }

    /// Records the outcome of contacting the cluster. `last_seen_at` moves only when the
    /// cluster was reached, so it tells how long an unreachable cluster has been gone.
    pub async fn set_cluster_reachability(
        &self,
        id: ClusterId,
        reachable: bool,
        message: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let result = sqlx::query(
            "UPDATE clusters
                SET reachable = $2,
                    message = $3,
                    last_seen_at = CASE WHEN $2 THEN $4 ELSE last_seen_at END,
                    updated_at = now()
              WHERE id = $1",
        )
        .bind(id)
        .bind(reachable)
        .bind(message)
        .bind(at)
        .execute(&self.pool)
        .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("cluster {id}")));
        }
        Ok(())
    }

    /// Looks a cluster up by its Kubernetes identity.
    pub async fn get_cluster(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Cluster>, StoreError> {
        let row = sqlx::query_as::<_, Cluster>(concat!(
            "SELECT ",
            cluster_columns!(),
            " FROM clusters WHERE namespace = $1 AND name = $2"
        ))
        .bind(namespace)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row)
    }

    /// Every cluster, by namespace and name.
    pub async fn list_clusters(&self) -> Result<Vec<Cluster>, StoreError> {
        let rows = sqlx::query_as::<_, Cluster>(concat!(
            "SELECT ",
            cluster_columns!(),
            " FROM clusters ORDER BY namespace, name"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Clusters in `namespace` whose labels include all of `labels` (a `matchLabels`
    /// selector; an empty map selects every cluster in the namespace).
    pub async fn clusters_matching_labels(
        &self,
        namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<Cluster>, StoreError> {
        let rows = sqlx::query_as::<_, Cluster>(concat!(
            "SELECT ",
            cluster_columns!(),
            " FROM clusters WHERE namespace = $1 AND labels @> $2
              ORDER BY name"
        ))
        .bind(namespace)
        .bind(Json(labels))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Forgets a cluster and, by cascade, its states, runs, inventory and drift history.
    /// Returns whether it existed.
    pub async fn delete_cluster(&self, id: ClusterId) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM clusters WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }
}
