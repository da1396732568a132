//! Where an object goes: API discovery turns an object's `apiVersion` and `kind` into a
//! served resource and its scope, and so into the dynamic API the apply writes through.
//! Discovery is a snapshot; the applier refreshes it once the set's CRDs are established.

use std::collections::HashMap;

use flotilla_render::Object;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::discovery::{ApiCapabilities, Discovery, Scope};

use crate::error::ApplyError;
use crate::inventory::InventoryEntry;

/// The resources a cluster serves, as discovered at one moment.
pub(crate) struct Targets {
    client: Client,
    discovery: Discovery,
    /// Every served resource by `(group, version, kind)`. `Discovery::resolve_gvk` copies
    /// a version's whole resource list to find one kind; an apply resolves each object
    /// more than once, so the answers are indexed once per discovery.
    by_gvk: HashMap<(String, String, String), (ApiResource, ApiCapabilities)>,
}

/// The API an object is written through, and the namespace it lands in.
pub(crate) struct Target {
    /// A namespaced API for namespaced resources, a cluster-wide one otherwise.
    pub api: Api<DynamicObject>,
    /// The served resource (group, version, kind, plural).
    pub resource: ApiResource,
    /// The client, for requests the typed API does not make.
    pub client: Client,
    /// The effective namespace: the object's own, else the client's default; `None` for
    /// cluster-scoped resources.
    pub namespace: Option<String>,
}

impl Targets {
    /// Discovers every API group the cluster serves: by aggregated discovery (two
    /// requests, `/api` and `/apis`, Kubernetes 1.26+) when the server offers it, else by
    /// the legacy documents (a request per group version, one after the other). Both
    /// describe the same resources; the aggregated form spares a round trip per group.
    pub async fn discover(client: &Client) -> Result<Self, ApplyError> {
        let discovery = match Discovery::new(client.clone()).run_aggregated().await {
            Ok(discovery) => discovery,
            Err(error) => {
                tracing::debug!(%error, "aggregated discovery unavailable, using the legacy documents");
                Discovery::new(client.clone())
                    .run()
                    .await
                    .map_err(|source| ApplyError::Cluster {
                        what: "API discovery".to_owned(),
                        source,
                    })?
            }
        };
        let mut by_gvk = HashMap::new();
        for group in discovery.groups() {
            for version in group.versions() {
                for (resource, capabilities) in group.versioned_resources(version) {
                    let key = (
                        group.name().to_owned(),
                        version.to_owned(),
                        resource.kind.clone(),
                    );
                    // The first resource serving a kind wins, as in `resolve_gvk`.
                    by_gvk.entry(key).or_insert((resource, capabilities));
                }
            }
        }
        Ok(Self {
            client: client.clone(),
            discovery,
            by_gvk,
        })
    }

    /// The served resource of `group`, `version` and `kind`.
    fn resolve_gvk(
        &self,
        group: &str,
        version: &str,
        kind: &str,
    ) -> Option<(ApiResource, ApiCapabilities)> {
        self.by_gvk
            .get(&(group.to_owned(), version.to_owned(), kind.to_owned()))
            .cloned()
    }

    /// The served resource of `object`'s kind in its version.
    fn resolve_object(&self, object: &Object) -> Option<(ApiResource, ApiCapabilities)> {
        let version = object
            .api_version
            .rsplit_once('/')
            .map_or(object.api_version.as_str(), |(_, version)| version);
        self.resolve_gvk(&object.id.group, version, &object.id.kind)
    }

    /// Whether `object`'s kind is served in its version.
    pub fn serves(&self, object: &Object) -> bool {
        self.resolve_object(object).is_some()
    }

    /// The API for `object`, or `None` when its kind is not served (yet).
    pub fn resolve(&self, object: &Object) -> Option<Target> {
        let (resource, capabilities) = self.resolve_object(object)?;
        Some(self.target(resource, &capabilities, object.id.namespace.as_deref()))
    }

    /// The served resource of an inventory entry: its version if still served, else the
    /// group's preferred version serving the kind (an object outlives the version it was
    /// applied as).
    fn resolve_entry_resource(
        &self,
        entry: &InventoryEntry,
    ) -> Option<(ApiResource, ApiCapabilities)> {
        self.resolve_gvk(&entry.group, &entry.version, &entry.kind)
            .or_else(|| {
                self.discovery
                    .get(&entry.group)?
                    .recommended_kind(&entry.kind)
            })
    }

    /// Whether an inventory entry's kind is served, in its version or another.
    pub fn serves_entry(&self, entry: &InventoryEntry) -> bool {
        self.resolve_entry_resource(entry).is_some()
    }

    /// The API for an inventory entry (see [`Self::resolve_entry_resource`]), `None` when
    /// the kind is no longer served.
    pub fn resolve_entry(&self, entry: &InventoryEntry) -> Option<Target> {
        let (resource, capabilities) = self.resolve_entry_resource(entry)?;
        Some(self.target(resource, &capabilities, entry.namespace.as_deref()))
    }

    /// The served resource of `kind` in `api_version` (`group/version`), or, without one,
    /// in the first group serving `kind` (its preferred version).
    fn resolve_kind_resource(
        &self,
        api_version: Option<&str>,
        kind: &str,
    ) -> Option<(ApiResource, ApiCapabilities)> {
        match api_version {
            Some(api_version) => {
                let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
                self.resolve_gvk(group, version, kind)
            }
            None => self
                .discovery
                .groups()
                .find_map(|group| group.recommended_kind(kind)),
        }
    }

    /// Whether `kind` is served in `api_version` (or anywhere, without one).
    pub fn serves_kind(&self, api_version: Option<&str>, kind: &str) -> bool {
        self.resolve_kind_resource(api_version, kind).is_some()
    }

    /// The API for objects of `kind` in `api_version` (see
    /// [`Self::resolve_kind_resource`]) in `namespace`.
    pub fn resolve_kind(
        &self,
        api_version: Option<&str>,
        kind: &str,
        namespace: Option<&str>,
    ) -> Option<Target> {
        let (resource, capabilities) = self.resolve_kind_resource(api_version, kind)?;
        Some(self.target(resource, &capabilities, namespace))
    }

    /// The API for `resource` in `namespace` (the client's default when a namespaced
    /// resource has none).
    fn target(
        &self,
        resource: ApiResource,
        capabilities: &ApiCapabilities,
        namespace: Option<&str>,
    ) -> Target {
        match capabilities.scope {
            Scope::Namespaced => {
                let namespace = namespace
                    .unwrap_or_else(|| self.client.default_namespace())
                    .to_owned();
                Target {
                    api: Api::namespaced_with(self.client.clone(), &namespace, &resource),
                    resource,
                    client: self.client.clone(),
                    namespace: Some(namespace),
                }
            }
            Scope::Cluster => Target {
                api: Api::all_with(self.client.clone(), &resource),
                resource,
                client: self.client.clone(),
                namespace: None,
            },
        }
    }
}

impl Target {
    /// The inventory entry of `object` written through this target.
    pub fn entry(&self, object: &Object) -> InventoryEntry {
        InventoryEntry {
            group: object.id.group.clone(),
            kind: object.id.kind.clone(),
            namespace: self.namespace.clone(),
            name: object.id.name.clone(),
            version: self.resource.version.clone(),
        }
    }
}
