//! Where an object goes: API discovery turns an object's `apiVersion` and `kind` into a
//! served resource and its scope, and so into the dynamic API the apply writes through.
//! Discovery is a snapshot; the applier refreshes it once the set's CRDs are established.

use flotilla_render::Object;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::discovery::{ApiCapabilities, Discovery, Scope};
use kube::{Client, core::GroupVersionKind};

use crate::error::ApplyError;
use crate::inventory::InventoryEntry;

/// The resources a cluster serves, as discovered at one moment.
pub(crate) struct Targets {
    client: Client,
    discovery: Discovery,
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
    /// Discovers every API group the cluster serves.
    pub async fn discover(client: &Client) -> Result<Self, ApplyError> {
        let discovery = Discovery::new(client.clone())
            .run()
            .await
            .map_err(|source| ApplyError::Cluster {
                what: "API discovery".to_owned(),
                source,
            })?;
        Ok(Self {
            client: client.clone(),
            discovery,
        })
    }

    /// The API for `object`, or `None` when its kind is not served (yet).
    pub fn resolve(&self, object: &Object) -> Option<Target> {
        let version = object
            .api_version
            .rsplit_once('/')
            .map_or(object.api_version.as_str(), |(_, version)| version);
        let gvk = GroupVersionKind::gvk(&object.id.group, version, &object.id.kind);
        let (resource, capabilities) = self.discovery.resolve_gvk(&gvk)?;
        Some(self.target(resource, &capabilities, object.id.namespace.as_deref()))
    }

    /// The API for an inventory entry: its version if still served, else the group's
    /// preferred version serving the kind (an object outlives the version it was applied
    /// as). `None` when the kind is no longer served.
    pub fn resolve_entry(&self, entry: &InventoryEntry) -> Option<Target> {
        let gvk = GroupVersionKind::gvk(&entry.group, &entry.version, &entry.kind);
        let (resource, capabilities) = self.discovery.resolve_gvk(&gvk).or_else(|| {
            self.discovery
                .get(&entry.group)?
                .recommended_kind(&entry.kind)
        })?;
        Some(self.target(resource, &capabilities, entry.namespace.as_deref()))
    }

    /// The API for objects of `kind` in `api_version` (`group/version`), or, without
    /// one, in the first group serving `kind` (its preferred version).
    pub fn resolve_kind(
        &self,
        api_version: Option<&str>,
        kind: &str,
        namespace: Option<&str>,
    ) -> Option<Target> {
        let (resource, capabilities) = match api_version {
            Some(api_version) => {
                let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
                self.discovery
                    .resolve_gvk(&GroupVersionKind::gvk(group, version, kind))?
            }
            None => self
                .discovery
                .groups()
                .find_map(|group| group.recommended_kind(kind))?,
        };
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
