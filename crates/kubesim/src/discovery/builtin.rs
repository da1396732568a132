//! The names of the built-in resources, which the definitions file does not carry.
//!
//! `_definitions.json` knows every built-in type's group, version and kind, but not the
//! resource name (`configmaps`), scope, short names, categories or subresources that
//! discovery must report — in the real server those come from each type's REST storage.
//! This table supplies them, one line per kind:
//!
//! `group | Kind | plural | Namespaced or Cluster | short names | categories | subresources`
//!
//! Served versions are not listed here: they are every GA version the definitions file has
//! for the kind (alpha and beta APIs are off by default in a real 1.35 server).

/// The table; see the module documentation for the columns.
pub const TABLE: &str = "
 | ConfigMap | configmaps | Namespaced | cm | |
 | Endpoints | endpoints | Namespaced | ep | |
 | Event | events | Namespaced | ev | |
 | LimitRange | limitranges | Namespaced | limits | |
 | Namespace | namespaces | Cluster | ns | | status,finalize
 | Node | nodes | Cluster | no | | status
 | PersistentVolumeClaim | persistentvolumeclaims | Namespaced | pvc | | status
 | PersistentVolume | persistentvolumes | Cluster | pv | | status
 | Pod | pods | Namespaced | po | all | status,log,eviction,ephemeralcontainers,resize
 | PodTemplate | podtemplates | Namespaced | | |
 | ReplicationController | replicationcontrollers | Namespaced | rc | all | status,scale
 | ResourceQuota | resourcequotas | Namespaced | quota | | status
 | Secret | secrets | Namespaced | | |
 | ServiceAccount | serviceaccounts | Namespaced | sa | | token
 | Service | services | Namespaced | svc | all | status
apps | ControllerRevision | controllerrevisions | Namespaced | | |
apps | DaemonSet | daemonsets | Namespaced | ds | all | status
apps | Deployment | deployments | Namespaced | deploy | all | status,scale
apps | ReplicaSet | replicasets | Namespaced | rs | all | status,scale
apps | StatefulSet | statefulsets | Namespaced | sts | all | status,scale
autoscaling | HorizontalPodAutoscaler | horizontalpodautoscalers | Namespaced | hpa | all | status
batch | CronJob | cronjobs | Namespaced | cj | all | status
batch | Job | jobs | Namespaced | | all | status
coordination.k8s.io | Lease | leases | Namespaced | | |
discovery.k8s.io | EndpointSlice | endpointslices | Namespaced | | |
events.k8s.io | Event | events | Namespaced | ev | |
networking.k8s.io | Ingress | ingresses | Namespaced | ing | | status
networking.k8s.io | IngressClass | ingressclasses | Cluster | | |
networking.k8s.io | NetworkPolicy | networkpolicies | Namespaced | netpol | |
networking.k8s.io | IPAddress | ipaddresses | Cluster | ip | |
networking.k8s.io | ServiceCIDR | servicecidrs | Cluster | | | status
node.k8s.io | RuntimeClass | runtimeclasses | Cluster | | |
policy | PodDisruptionBudget | poddisruptionbudgets | Namespaced | pdb | | status
rbac.authorization.k8s.io | ClusterRole | clusterroles | Cluster | | |
rbac.authorization.k8s.io | ClusterRoleBinding | clusterrolebindings | Cluster | | |
rbac.authorization.k8s.io | Role | roles | Namespaced | | |
rbac.authorization.k8s.io | RoleBinding | rolebindings | Namespaced | | |
scheduling.k8s.io | PriorityClass | priorityclasses | Cluster | pc | |
storage.k8s.io | CSIDriver | csidrivers | Cluster | | |
storage.k8s.io | CSINode | csinodes | Cluster | | |
storage.k8s.io | CSIStorageCapacity | csistoragecapacities | Namespaced | | |
storage.k8s.io | StorageClass | storageclasses | Cluster | sc | |
storage.k8s.io | VolumeAttachment | volumeattachments | Cluster | | | status
storage.k8s.io | VolumeAttributesClass | volumeattributesclasses | Cluster | vac | |
apiextensions.k8s.io | CustomResourceDefinition | customresourcedefinitions | Cluster | crd,crds | api-extensions | status
apiregistration.k8s.io | APIService | apiservices | Cluster | | api-extensions | status
admissionregistration.k8s.io | MutatingWebhookConfiguration | mutatingwebhookconfigurations | Cluster | | api-extensions |
admissionregistration.k8s.io | ValidatingWebhookConfiguration | validatingwebhookconfigurations | Cluster | | api-extensions |
admissionregistration.k8s.io | ValidatingAdmissionPolicy | validatingadmissionpolicies | Cluster | | api-extensions | status
admissionregistration.k8s.io | ValidatingAdmissionPolicyBinding | validatingadmissionpolicybindings | Cluster | | api-extensions |
certificates.k8s.io | CertificateSigningRequest | certificatesigningrequests | Cluster | csr | | status,approval
flowcontrol.apiserver.k8s.io | FlowSchema | flowschemas | Cluster | | | status
flowcontrol.apiserver.k8s.io | PriorityLevelConfiguration | prioritylevelconfigurations | Cluster | | | status
resource.k8s.io | DeviceClass | deviceclasses | Cluster | | |
resource.k8s.io | ResourceClaim | resourceclaims | Namespaced | | | status
resource.k8s.io | ResourceClaimTemplate | resourceclaimtemplates | Namespaced | | |
resource.k8s.io | ResourceSlice | resourceslices | Cluster | | |
";

/// One parsed line of [`TABLE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltinNames {
    pub group: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
    pub short_names: Vec<&'static str>,
    pub categories: Vec<&'static str>,
    pub subresources: Vec<&'static str>,
}

fn list(cell: &'static str) -> Vec<&'static str> {
    cell.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// Parses [`TABLE`].
pub fn builtins() -> Vec<BuiltinNames> {
    TABLE
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|line| {
            let cells: Vec<&'static str> = line.split('|').map(str::trim).collect();
            // Every line has seven cells; a malformed one is skipped (and caught by the test).
            let [group, kind, plural, scope, short, categories, sub] = cells.as_slice() else {
                return None;
            };
            Some(BuiltinNames {
                group,
                kind,
                plural,
                namespaced: *scope == "Namespaced",
                short_names: list(short),
                categories: list(categories),
                subresources: list(sub),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_parses() {
        let lines = TABLE.lines().filter(|l| !l.trim().is_empty()).count();
        let parsed = builtins();
        assert_eq!(parsed.len(), lines);
        let cm = parsed.iter().find(|b| b.kind == "ConfigMap").unwrap();
        assert_eq!(cm.group, "");
        assert!(cm.namespaced);
        assert_eq!(cm.short_names, ["cm"]);
        let ns = parsed.iter().find(|b| b.kind == "Namespace").unwrap();
        assert!(!ns.namespaced);
        assert_eq!(ns.subresources, ["status", "finalize"]);
    }
}
