//! What the cluster holds of one deployer's objects, read with one list per resource
//! (selected by the owner labels) instead of one read per object: an apply or diff of
//! hundreds of unchanged objects then costs a handful of lists, not hundreds of gets.
//!
//! A list goes across all namespaces. An identity allowed to list only in some
//! namespaces (a tenant's, under RBAC) is refused that with 403; the resource is then
//! listed in each namespace the set writes it to instead, which such an identity needs
//! to be allowed anyway, and the applier remembers to do so for a minute
//! ([`ListScopes`]).
//!
//! An object that exists but does not carry this deployer's owner labels is not found
//! here; callers learn of it from the server-side dry-run instead (whose answer for an
//! existing object carries a resourceVersion).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flotilla_render::ObjectId;
use futures::{StreamExt, TryStreamExt, stream};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};

use crate::error::ApplyError;
use crate::owner::Owner;
use crate::target::Target;

/// Lists in flight at once: resources listed together, and namespaces of one resource
/// when it is listed per namespace (so at most its square in all).
const CONCURRENT_LISTS: usize = 4;

/// The resources an identity was refused a list across namespaces of, remembered for a
/// while so that lists go to the namespaces at once (clones share them); after
/// [`ListScopes::RECHECK_AFTER`] a list across namespaces is tried again, in case the
/// identity was granted it since.
#[derive(Clone, Debug, Default)]
pub(crate) struct ListScopes {
    refused: Arc<Mutex<HashMap<(String, String), Instant>>>,
}

impl ListScopes {
    const RECHECK_AFTER: Duration = Duration::from_secs(60);

    fn key(resource: &ApiResource) -> (String, String) {
        (resource.group.clone(), resource.plural.clone())
    }

    fn per_namespace(&self, resource: &ApiResource) -> bool {
        self.lock()
            .get(&Self::key(resource))
            .is_some_and(|at| at.elapsed() < Self::RECHECK_AFTER)
    }

    fn learn(&self, resource: &ApiResource) {
        self.lock().insert(Self::key(resource), Instant::now());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Instant>> {
        // A map of names and times stays whole whatever panicked while holding it.
        self.refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// This deployer's live objects of some resources, by identity (with their effective
/// namespace).
#[derive(Debug, Default)]
pub(crate) struct LiveObjects {
    objects: HashMap<ObjectId, DynamicObject>,
}

impl LiveObjects {
    /// Lists every object carrying `owner`'s labels of the resources `targets` write to:
    /// each resource once, in all namespaces, or, when that is forbidden (now, or before
    /// as `scopes` remember), in each of the targets' namespaces.
    pub async fn fetch<'t>(
        client: &Client,
        owner: &Owner,
        scopes: &ListScopes,
        targets: impl IntoIterator<Item = &'t Target>,
    ) -> Result<Self, ApplyError> {
        let mut resources: Vec<(&ApiResource, BTreeSet<&str>)> = Vec::new();
        for target in targets {
            let i = match resources
                .iter()
                .position(|(r, _)| same_resource(r, &target.resource))
            {
                Some(i) => i,
                None => {
                    resources.push((&target.resource, BTreeSet::new()));
                    resources.len() - 1
                }
            };
            resources[i].1.extend(target.namespace.as_deref());
        }
        let selector = owner.selector();
        let params = ListParams::default().labels(&selector);
        let lists: Vec<(&ApiResource, Vec<DynamicObject>)> = stream::iter(resources)
            .map(|(resource, namespaces)| {
                let params = &params;
                async move {
                    let items = list(client, resource, &namespaces, params, scopes).await?;
                    Ok::<_, ApplyError>((resource, items))
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

/// The objects of `resource` selected by `params`: one list across all namespaces, or one
/// per namespace of `namespaces` when that list is forbidden (403), which `scopes` learn.
async fn list(
    client: &Client,
    resource: &ApiResource,
    namespaces: &BTreeSet<&str>,
    params: &ListParams,
    scopes: &ListScopes,
) -> Result<Vec<DynamicObject>, ApplyError> {
    let failed = |namespace: Option<&str>, source| ApplyError::Cluster {
        what: match namespace {
            Some(ns) => format!(
                "listing {} {} in namespace {ns}",
                resource.api_version, resource.plural
            ),
            None => format!("listing {} {}", resource.api_version, resource.plural),
        },
        source,
    };
    let per_namespace = || async {
        let lists: Vec<Vec<DynamicObject>> = stream::iter(namespaces)
            .map(|namespace| async move {
                let api: Api<DynamicObject> =
                    Api::namespaced_with(client.clone(), namespace, resource);
                let list = api
                    .list(params)
                    .await
                    .map_err(|e| failed(Some(namespace), e))?;
                Ok::<_, ApplyError>(list.items)
            })
            .buffer_unordered(CONCURRENT_LISTS)
            .try_collect()
            .await?;
        Ok(lists.into_iter().flatten().collect())
    };
    if !namespaces.is_empty() && scopes.per_namespace(resource) {
        return per_namespace().await;
    }
    let all: Api<DynamicObject> = Api::all_with(client.clone(), resource);
    match all.list(params).await {
        Ok(list) => Ok(list.items),
        // By code too: a 403 from a proxy in front of the server carries no reason.
        Err(kube::Error::Api(status))
            if (status.code == 403 || status.is_forbidden()) && !namespaces.is_empty() =>
        {
            tracing::debug!(
                resource = %resource.plural,
                "listing in all namespaces is forbidden, listing in each of the set's"
            );
            scopes.learn(resource);
            per_namespace().await
        }
        Err(error) => Err(failed(None, error)),
    }
}

/// Whether two resources are the same list endpoint.
fn same_resource(a: &ApiResource, b: &ApiResource) -> bool {
    a.group == b.group && a.version == b.version && a.plural == b.plural
}
