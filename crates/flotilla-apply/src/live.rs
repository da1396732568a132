//! What the cluster holds of one deployer's objects, read with one list per resource
//! (selected by the owner labels) instead of one read per object: an apply or diff of
//! hundreds of unchanged objects then costs a handful of lists, not hundreds of gets.
//!
//! An object that exists but does not carry this deployer's owner labels is not found
//! here; callers learn of it from the server-side dry-run instead (whose answer for an
//! existing object carries a resourceVersion).

use std::collections::HashMap;

use flotilla_render::ObjectId;
use futures::{StreamExt, TryStreamExt, stream};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};

use crate::error::ApplyError;
use crate::owner::Owner;

/// Lists in flight at once.
const CONCURRENT_LISTS: usize = 4;

/// This deployer's live objects of some resources, by identity (with their effective
/// namespace).
#[derive(Debug, Default)]
pub(crate) struct LiveObjects {
    objects: HashMap<ObjectId, DynamicObject>,
}

impl LiveObjects {
    /// Lists every object of `resources` (each once; duplicates are skipped) carrying
    /// `owner`'s labels, in all namespaces.
    pub async fn fetch(
        client: &Client,
        owner: &Owner,
        resources: impl IntoIterator<Item = ApiResource>,
    ) -> Result<Self, ApplyError> {
        let mut unique: Vec<ApiResource> = Vec::new();
        for resource in resources {
            if !unique.iter().any(|r| same_resource(r, &resource)) {
                unique.push(resource);
            }
        }
        let selector = owner.selector();
        let params = ListParams::default().labels(&selector);
        let lists: Vec<(ApiResource, Vec<DynamicObject>)> = stream::iter(unique)
            .map(|resource| {
                let params = &params;
                async move {
                    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
                    let list = api
                        .list(params)
                        .await
                        .map_err(|source| ApplyError::Cluster {
                            what: format!("listing {} {}", resource.api_version, resource.plural),
                            source,
                        })?;
                    Ok::<_, ApplyError>((resource, list.items))
                }
            })
            .buffer_unordered(CONCURRENT_LISTS)
            .try_collect()
            .await?;
        let mut objects = HashMap::new();
        for (resource, items) in lists {
            for object in items {
                let Some(name) = object.metadata.name.clone() else {
                    continue;
                };
                let id = ObjectId {
                    group: resource.group.clone(),
                    kind: resource.kind.clone(),
                    namespace: object.metadata.namespace.clone(),
                    name,
                };
                objects.insert(id, object);
            }
        }
        Ok(Self { objects })
    }

    /// The live object with identity `id` (its namespace the effective one).
    pub fn get(&self, id: &ObjectId) -> Option<&DynamicObject> {
        self.objects.get(id)
    }
}

/// Whether two resources are the same list endpoint.
fn same_resource(a: &ApiResource, b: &ApiResource) -> bool {
    a.group == b.group && a.version == b.version && a.plural == b.plural
}
