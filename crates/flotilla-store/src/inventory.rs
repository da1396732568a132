//! Inventories: the objects a deployer last applied to a cluster. The next apply prunes
//! what this list has and the new render lacks, and never anything else.

use serde::{Deserialize, Serialize};

use crate::{ClusterId, DeployerId, ObjectRef, Store, StoreError};

/// One applied object and the API version it was applied with.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::FromRow,
)]
pub struct InventoryEntry {
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub object: ObjectRef,
    /// e.g. `v1`, as in `apps/v1` for group `apps`.
    pub version: String,
}

impl InventoryEntry {
    pub fn new(object: ObjectRef, version: impl Into<String>) -> Self {
        Self {
            object,
            version: version.into(),
        }
    }
}

impl Store {
    /// Replaces the inventory of a deployer on a cluster with `entries`, atomically: readers
    /// see the old list or the new one, never a mix. Duplicate entries are stored once.
    pub async fn replace_inventory(
        &self,
        cluster_id: ClusterId,
        deployer_id: DeployerId,
        entries: &[InventoryEntry],
    ) -> Result<(), StoreError> {
        let mut groups = Vec::with_capacity(entries.len());
        let mut kinds = Vec::with_capacity(entries.len());
        let mut namespaces = Vec::with_capacity(entries.len());
        let mut names = Vec::with_capacity(entries.len());
        let mut versions = Vec::with_capacity(entries.len());
        for entry in entries {
            groups.push(entry.object.group.as_str());
            kinds.push(entry.object.kind.as_str());
            namespaces.push(entry.object.namespace.as_str());
            names.push(entry.object.name.as_str());
            versions.push(entry.version.as_str());
        }

        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM inventory_entries WHERE cluster_id = $1 AND deployer_id = $2")
            .bind(cluster_id)
            .bind(deployer_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO inventory_entries
                 (cluster_id, deployer_id, object_group, kind, namespace, name, version)
             SELECT $1, $2, u.object_group, u.kind, u.namespace, u.name, u.version
               FROM UNNEST($3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
                    AS u (object_group, kind, namespace, name, version)
             ON CONFLICT DO NOTHING",
        )
        .bind(cluster_id)
        .bind(deployer_id)
        .bind(&groups)
        .bind(&kinds)
        .bind(&namespaces)
        .bind(&names)
        .bind(&versions)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The inventory of a deployer on a cluster, sorted by group, kind, namespace, name.
    pub async fn inventory(
        &self,
        cluster_id: ClusterId,
        deployer_id: DeployerId,
    ) -> Result<Vec<InventoryEntry>, StoreError> {
        let rows = sqlx::query_as::<_, InventoryEntry>(
            "SELECT object_group, kind, namespace, name, version FROM inventory_entries
              WHERE cluster_id = $1 AND deployer_id = $2
              ORDER BY object_group, kind, namespace, name",
        )
        .bind(cluster_id)
        .bind(deployer_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Which deployers have `object` in their inventory on a cluster: the owner a drift is
    /// attributed to, or more than one when two deployers fight over an object.
    pub async fn object_owners(
        &self,
        cluster_id: ClusterId,
        object: &ObjectRef,
    ) -> Result<Vec<DeployerId>, StoreError> {
        let rows = sqlx::query_scalar::<_, DeployerId>(
            "SELECT deployer_id FROM inventory_entries
              WHERE cluster_id = $1 AND kind = $2 AND namespace = $3 AND name = $4
                AND object_group = $5
              ORDER BY deployer_id",
        )
        .bind(cluster_id)
        .bind(&object.kind)
        .bind(&object.namespace)
        .bind(&object.name)
        .bind(&object.group)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }
}
