//! Drift: changes to managed objects that no apply of ours caused.
//!
//! An event is *open* from detection until it is resolved (corrected by the hub, reverted
//! by someone else, accepted, or pruned). There is at most one open event per object and
//! deployer on a cluster: seeing the same drift again widens that event (more changed
//! paths, more field managers, a later `last_detected_at`) instead of adding rows, so the
//! open set stays small however long the history grows and the cluster report reads only
//! a partial index.
//!
//! Values are never stored: only field paths, the field managers blamed and a caller-made
//! hash of what was observed. Secret contents cannot reach the database this way.
//!
//! Writes are batched (one statement for any number of observations) and safe to retry:
//! an observation older than the resolution of its object's drift is ignored, so replaying
//! a buffered batch after an outage does not reopen drift that was fixed meanwhile.
//! [`crate::DeployerState::drifted_count`] is kept in step in the same transaction.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, Transaction};

use crate::{
    ClusterId, DeployerId, DeployerKind, DriftKind, DriftResolution, ObjectRef, Store, StoreError,
};

/// One detection of drift, as a worker reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftObservation {
    pub cluster_id: ClusterId,
    pub deployer_id: DeployerId,
    pub object: ObjectRef,
    pub kind: DriftKind,
    /// JSON pointers of the fields that differ from the desired state.
    pub changed_paths: Vec<String>,
    /// Field managers that own the changed fields now (who made the change).
    pub field_managers: Vec<String>,
    /// A hash of the drifted fields as observed, e.g. `sha256:<hex>`; never the values.
    pub observed_hash: Option<String>,
    pub detected_at: DateTime<Utc>,
}

/// A stored drift event with cluster and deployer names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct DriftEvent {
    pub id: i64,
    pub cluster_id: ClusterId,
    pub cluster_namespace: String,
    pub cluster_name: String,
    pub deployer_id: DeployerId,
    pub deployer_kind: DeployerKind,
    pub deployer_namespace: String,
    pub deployer_name: String,
    #[sqlx(flatten)]
    pub object: ObjectRef,
    pub drift_kind: DriftKind,
    pub changed_paths: Vec<String>,
    pub field_managers: Vec<String>,
    pub observed_hash: Option<String>,
    /// First detection: "out of sync since".
    pub detected_at: DateTime<Utc>,
    /// Latest detection while the event was open.
    pub last_detected_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution: Option<DriftResolution>,
}

/// How [`Store::fleet_open_drift`] groups open drift. Columns not grouped on are `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftSummaryGrouping {
    Deployer,
    Cluster,
    Kind,
    DeployerClusterKind,
}

/// Open drift aggregated over one group of the fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct DriftSummary {
    pub deployer_id: Option<DeployerId>,
    pub deployer_kind: Option<DeployerKind>,
    pub deployer_namespace: Option<String>,
    pub deployer_name: Option<String>,
    pub cluster_id: Option<ClusterId>,
    pub cluster_namespace: Option<String>,
    pub cluster_name: Option<String>,
    pub object_group: Option<String>,
    pub object_kind: Option<String>,
    /// Open drift events (drifted objects) in the group.
    pub open_count: i64,
    /// Distinct clusters with open drift in the group.
    pub cluster_count: i64,
    pub oldest_detected_at: DateTime<Utc>,
}

/// Selects the drift history of one object on one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectDriftQuery {
    pub cluster_id: ClusterId,
    pub object: ObjectRef,
    /// At most this many events, newest first (capped at 1,000).
    pub limit: i64,
}

/// Select list for [`DriftEvent`] over `drift_events e`.
macro_rules! event_select {
    () => {
        "SELECT e.id, e.cluster_id, c.namespace AS cluster_namespace, c.name AS cluster_name,
                e.deployer_id, d.kind AS deployer_kind, d.namespace AS deployer_namespace,
                d.name AS deployer_name, e.object_group, e.kind, e.namespace, e.name,
                e.drift_kind, e.changed_paths, e.field_managers, e.observed_hash, e.detected_at,
                e.last_detected_at, e.resolved_at, e.resolution
           FROM drift_events e
           JOIN clusters c ON c.id = e.cluster_id
           JOIN deployers d ON d.id = e.deployer_id "
    };
}

/// Aggregates open drift by `$keys` in `g`, then names the groups. The name columns are
/// filled by `$names` and `$joins`; every [`DriftSummary`] column must be present.
macro_rules! summary_query {
    ($keys:literal, $names:literal, $joins:literal, $order:literal) => {
        concat!(
            "WITH g AS (SELECT ",
            $keys,
            ", count(*) AS open_count, count(DISTINCT cluster_id) AS cluster_count,
                  min(detected_at) AS oldest_detected_at
               FROM drift_events WHERE resolved_at IS NULL GROUP BY ",
            $keys,
            ") SELECT ",
            $names,
            ", g.open_count, g.cluster_count, g.oldest_detected_at FROM g ",
            $joins,
            " ORDER BY g.open_count DESC, ",
            $order
        )
    };
}

const MAX_ROWS: i64 = 1_000;

impl Store {
    /// Records a batch of drift observations in one statement: new drift opens an event,
    /// drift already open widens it. Returns the ids of the events touched, one per
    /// distinct object in the batch (observations older than their object's last
    /// resolution are dropped and return nothing).
    pub async fn record_drift(
        &self,
        observations: &[DriftObservation],
    ) -> Result<Vec<i64>, StoreError> {
        if observations.is_empty() {
            return Ok(Vec::new());
        }
        // One statement may not touch the same row twice, so repeated objects in a batch
        // are merged here first.
        let mut merged: BTreeMap<(ClusterId, DeployerId, &ObjectRef), Merged<'_>> = BTreeMap::new();
        for observation in observations {
            let key = (
                observation.cluster_id,
                observation.deployer_id,
                &observation.object,
            );
            merged
                .entry(key)
                .and_modify(|entry| entry.add(observation))
                .or_insert_with(|| Merged::new(observation));
        }

        let mut columns = BatchColumns::with_capacity(merged.len());
        for ((cluster_id, deployer_id, object), entry) in merged {
            columns.push(cluster_id, deployer_id, object, entry);
        }

        let mut tx = self.pool.begin().await?;
        let ids = sqlx::query_scalar::<_, i64>(
            "INSERT INTO drift_events AS e
                 (cluster_id, deployer_id, object_group, kind, namespace, name, drift_kind,
                  changed_paths, field_managers, observed_hash, detected_at, last_detected_at)
             SELECT u.cluster_id, u.deployer_id, u.object_group, u.kind, u.namespace, u.name,
                    u.drift_kind,
                    ARRAY(SELECT DISTINCT p FROM jsonb_array_elements_text(u.paths) AS p
                           ORDER BY p),
                    ARRAY(SELECT DISTINCT m FROM jsonb_array_elements_text(u.managers) AS m
                           ORDER BY m),
                    u.observed_hash, u.detected_at, u.last_detected_at
               FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                           $6::text[], $7::text[], $8::jsonb[], $9::jsonb[], $10::text[],
                           $11::timestamptz[], $12::timestamptz[])
                    AS u (cluster_id, deployer_id, object_group, kind, namespace, name,
                          drift_kind, paths, managers, observed_hash, detected_at,
                          last_detected_at)
              WHERE NOT EXISTS (
                    SELECT 1 FROM drift_events r
                     WHERE r.cluster_id = u.cluster_id AND r.kind = u.kind
                       AND r.namespace = u.namespace AND r.name = u.name
                       AND r.object_group = u.object_group AND r.deployer_id = u.deployer_id
                       AND r.resolved_at >= u.last_detected_at)
             ON CONFLICT (cluster_id, deployer_id, object_group, kind, namespace, name)
                WHERE resolved_at IS NULL
             DO UPDATE SET
                 drift_kind = CASE WHEN EXCLUDED.last_detected_at >= e.last_detected_at
                                   THEN EXCLUDED.drift_kind ELSE e.drift_kind END,
                 observed_hash = CASE WHEN EXCLUDED.last_detected_at >= e.last_detected_at
                                      THEN COALESCE(EXCLUDED.observed_hash, e.observed_hash)
                                      ELSE e.observed_hash END,
                 changed_paths = ARRAY(SELECT DISTINCT p
                                         FROM unnest(e.changed_paths || EXCLUDED.changed_paths)
                                              AS p ORDER BY p),
                 field_managers = ARRAY(SELECT DISTINCT m
                                          FROM unnest(e.field_managers || EXCLUDED.field_managers)
                                               AS m ORDER BY m),
                 detected_at = least(e.detected_at, EXCLUDED.detected_at),
                 last_detected_at = greatest(e.last_detected_at, EXCLUDED.last_detected_at)
             RETURNING id",
        )
        .bind(&columns.cluster_ids)
        .bind(&columns.deployer_ids)
        .bind(&columns.groups)
        .bind(&columns.kinds)
        .bind(&columns.namespaces)
        .bind(&columns.names)
        .bind(&columns.drift_kinds)
        .bind(&columns.paths)
        .bind(&columns.managers)
        .bind(&columns.hashes)
        .bind(&columns.detected)
        .bind(&columns.last_detected)
        .fetch_all(&mut *tx)
        .await?;
        refresh_drifted_counts(&mut tx, &columns.cluster_ids, &columns.deployer_ids).await?;
        tx.commit().await?;
        Ok(ids)
    }

    /// Resolves the open drift of `objects` (one deployer on one cluster). Returns how many
    /// events were closed; objects without open drift are skipped.
    pub async fn resolve_drift(
        &self,
        cluster_id: ClusterId,
        deployer_id: DeployerId,
        objects: &[ObjectRef],
        resolution: DriftResolution,
        resolved_at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let groups: Vec<&str> = objects.iter().map(|o| o.group.as_str()).collect();
        let kinds: Vec<&str> = objects.iter().map(|o| o.kind.as_str()).collect();
        let namespaces: Vec<&str> = objects.iter().map(|o| o.namespace.as_str()).collect();
        let names: Vec<&str> = objects.iter().map(|o| o.name.as_str()).collect();
        let mut tx = self.pool.begin().await?;
        let result = sqlx::query(
            "UPDATE drift_events e SET resolved_at = $7, resolution = $8
               FROM UNNEST($3::text[], $4::text[], $5::text[], $6::text[])
                    AS u (object_group, kind, namespace, name)
              WHERE e.cluster_id = $1 AND e.deployer_id = $2 AND e.resolved_at IS NULL
                AND e.object_group = u.object_group AND e.kind = u.kind
                AND e.namespace = u.namespace AND e.name = u.name",
        )
        .bind(cluster_id)
        .bind(deployer_id)
        .bind(&groups)
        .bind(&kinds)
        .bind(&namespaces)
        .bind(&names)
        .bind(resolved_at)
        .bind(resolution)
        .execute(&mut *tx)
        .await?;
        refresh_drifted_counts(&mut tx, &[cluster_id], &[deployer_id]).await?;
        tx.commit().await?;
        Ok(result.rows_affected())
    }

    /// Resolves open events by id (an operator accepting drift through the API). Returns
    /// how many were open and are now closed.
    pub async fn resolve_drift_events(
        &self,
        ids: &[i64],
        resolution: DriftResolution,
        resolved_at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let pairs: Vec<(ClusterId, DeployerId)> = sqlx::query_as(
            "UPDATE drift_events SET resolved_at = $2, resolution = $3
              WHERE id = ANY($1) AND resolved_at IS NULL
          RETURNING cluster_id, deployer_id",
        )
        .bind(ids)
        .bind(resolved_at)
        .bind(resolution)
        .fetch_all(&mut *tx)
        .await?;
        let (clusters, deployers): (Vec<_>, Vec<_>) = pairs.iter().copied().unzip();
        refresh_drifted_counts(&mut tx, &clusters, &deployers).await?;
        tx.commit().await?;
        Ok(pairs.len() as u64)
    }

    /// The current drift report of one cluster: its open events, oldest first.
    pub async fn cluster_drift_report(
        &self,
        cluster_id: ClusterId,
    ) -> Result<Vec<DriftEvent>, StoreError> {
        let rows = sqlx::query_as::<_, DriftEvent>(concat!(
            event_select!(),
            "WHERE e.cluster_id = $1 AND e.resolved_at IS NULL
             ORDER BY e.detected_at, e.id"
        ))
        .bind(cluster_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Open drift of one deployer across the fleet, oldest first, at most `limit` events
    /// (capped at 1,000).
    pub async fn deployer_open_drift(
        &self,
        deployer_id: DeployerId,
        limit: i64,
    ) -> Result<Vec<DriftEvent>, StoreError> {
        let rows = sqlx::query_as::<_, DriftEvent>(concat!(
            event_select!(),
            "WHERE e.deployer_id = $1 AND e.resolved_at IS NULL
             ORDER BY e.detected_at, e.id LIMIT $2"
        ))
        .bind(deployer_id)
        .bind(limit.clamp(0, MAX_ROWS))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Fleet-wide open drift, grouped as asked, largest groups first.
    pub async fn fleet_open_drift(
        &self,
        grouping: DriftSummaryGrouping,
    ) -> Result<Vec<DriftSummary>, StoreError> {
        let sql = match grouping {
            DriftSummaryGrouping::Deployer => summary_query!(
                "deployer_id",
                "g.deployer_id, d.kind AS deployer_kind, d.namespace AS deployer_namespace,
                 d.name AS deployer_name, NULL::bigint AS cluster_id,
                 NULL::text AS cluster_namespace, NULL::text AS cluster_name,
                 NULL::text AS object_group, NULL::text AS object_kind",
                "JOIN deployers d ON d.id = g.deployer_id",
                "d.kind, d.namespace, d.name"
            ),
            DriftSummaryGrouping::Cluster => summary_query!(
                "cluster_id",
                "NULL::bigint AS deployer_id, NULL::text AS deployer_kind,
                 NULL::text AS deployer_namespace, NULL::text AS deployer_name, g.cluster_id,
                 c.namespace AS cluster_namespace, c.name AS cluster_name,
                 NULL::text AS object_group, NULL::text AS object_kind",
                "JOIN clusters c ON c.id = g.cluster_id",
                "c.namespace, c.name"
            ),
            DriftSummaryGrouping::Kind => summary_query!(
                "object_group, kind",
                "NULL::bigint AS deployer_id, NULL::text AS deployer_kind,
                 NULL::text AS deployer_namespace, NULL::text AS deployer_name,
                 NULL::bigint AS cluster_id, NULL::text AS cluster_namespace,
                 NULL::text AS cluster_name, g.object_group, g.kind AS object_kind",
                "",
                "g.object_group, g.kind"
            ),
            DriftSummaryGrouping::DeployerClusterKind => summary_query!(
                "deployer_id, cluster_id, object_group, kind",
                "g.deployer_id, d.kind AS deployer_kind, d.namespace AS deployer_namespace,
                 d.name AS deployer_name, g.cluster_id, c.namespace AS cluster_namespace,
                 c.name AS cluster_name, g.object_group, g.kind AS object_kind",
                "JOIN deployers d ON d.id = g.deployer_id JOIN clusters c ON c.id = g.cluster_id",
                "d.kind, d.namespace, d.name, c.namespace, c.name, g.object_group, g.kind"
            ),
        };
        let rows = sqlx::query_as::<_, DriftSummary>(sql)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows)
    }

    /// The drift history of one object on one cluster, open and resolved, newest first.
    pub async fn object_drift_history(
        &self,
        query: &ObjectDriftQuery,
    ) -> Result<Vec<DriftEvent>, StoreError> {
        let rows = sqlx::query_as::<_, DriftEvent>(concat!(
            event_select!(),
            "WHERE e.cluster_id = $1 AND e.kind = $2 AND e.namespace = $3 AND e.name = $4
               AND e.object_group = $5
             ORDER BY e.detected_at DESC, e.id DESC LIMIT $6"
        ))
        .bind(query.cluster_id)
        .bind(&query.object.kind)
        .bind(&query.object.namespace)
        .bind(&query.object.name)
        .bind(&query.object.group)
        .bind(query.limit.clamp(0, MAX_ROWS))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }
}

/// Sets `drifted_count` of the given (cluster, deployer) states to their open-event count.
async fn refresh_drifted_counts(
    tx: &mut Transaction<'_, Postgres>,
    cluster_ids: &[ClusterId],
    deployer_ids: &[DeployerId],
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE deployer_states s
            SET drifted_count = (SELECT count(*) FROM drift_events e
                                  WHERE e.cluster_id = s.cluster_id
                                    AND e.deployer_id = s.deployer_id
                                    AND e.resolved_at IS NULL)
          WHERE (s.cluster_id, s.deployer_id) IN
                (SELECT * FROM UNNEST($1::bigint[], $2::bigint[]))",
    )
    .bind(cluster_ids)
    .bind(deployer_ids)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Observations of one object within a batch, merged.
struct Merged<'a> {
    kind: DriftKind,
    paths: Vec<&'a str>,
    managers: Vec<&'a str>,
    hash: Option<&'a str>,
    detected: DateTime<Utc>,
    last_detected: DateTime<Utc>,
}

impl<'a> Merged<'a> {
    fn new(observation: &'a DriftObservation) -> Self {
        Self {
            kind: observation.kind,
            paths: observation
                .changed_paths
                .iter()
                .map(String::as_str)
                .collect(),
            managers: observation
                .field_managers
                .iter()
                .map(String::as_str)
                .collect(),
            hash: observation.observed_hash.as_deref(),
            detected: observation.detected_at,
            last_detected: observation.detected_at,
        }
    }

    fn add(&mut self, observation: &'a DriftObservation) {
        self.paths
            .extend(observation.changed_paths.iter().map(String::as_str));
        self.managers
            .extend(observation.field_managers.iter().map(String::as_str));
        self.detected = self.detected.min(observation.detected_at);
        if observation.detected_at >= self.last_detected {
            self.last_detected = observation.detected_at;
            self.kind = observation.kind;
            self.hash = observation.observed_hash.as_deref().or(self.hash);
        }
    }
}

/// The batch as one array per column, for `UNNEST`.
struct BatchColumns<'a> {
    cluster_ids: Vec<ClusterId>,
    deployer_ids: Vec<DeployerId>,
    groups: Vec<&'a str>,
    kinds: Vec<&'a str>,
    namespaces: Vec<&'a str>,
    names: Vec<&'a str>,
    drift_kinds: Vec<DriftKind>,
    // Per-row string lists travel as jsonb because Postgres arrays must be rectangular.
    paths: Vec<serde_json::Value>,
    managers: Vec<serde_json::Value>,
    hashes: Vec<Option<&'a str>>,
    detected: Vec<DateTime<Utc>>,
    last_detected: Vec<DateTime<Utc>>,
}

impl<'a> BatchColumns<'a> {
    fn with_capacity(n: usize) -> Self {
        Self {
            cluster_ids: Vec::with_capacity(n),
            deployer_ids: Vec::with_capacity(n),
            groups: Vec::with_capacity(n),
            kinds: Vec::with_capacity(n),
            namespaces: Vec::with_capacity(n),
            names: Vec::with_capacity(n),
            drift_kinds: Vec::with_capacity(n),
            paths: Vec::with_capacity(n),
            managers: Vec::with_capacity(n),
            hashes: Vec::with_capacity(n),
            detected: Vec::with_capacity(n),
            last_detected: Vec::with_capacity(n),
        }
    }

    fn push(
        &mut self,
        cluster_id: ClusterId,
        deployer_id: DeployerId,
        object: &'a ObjectRef,
        merged: Merged<'a>,
    ) {
        self.cluster_ids.push(cluster_id);
        self.deployer_ids.push(deployer_id);
        self.groups.push(&object.group);
        self.kinds.push(&object.kind);
        self.namespaces.push(&object.namespace);
        self.names.push(&object.name);
        self.drift_kinds.push(merged.kind);
        self.paths.push(serde_json::Value::from(merged.paths));
        self.managers.push(serde_json::Value::from(merged.managers));
        self.hashes.push(merged.hash);
        self.detected.push(merged.detected);
        self.last_detected.push(merged.last_detected);
    }
}
