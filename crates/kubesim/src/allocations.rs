//! What stored Services hold of the cluster's shared ranges: their cluster IPs and node
//! ports, the registry allocators' bitmaps (or IPAddress objects) in a real API server.
//!
//! The index is derived from the stored objects and kept by the store itself: every write
//! and delete of a Service swaps the old object's entries for the new one's (see
//! [`crate::store::StoreState::put`]), and a wiped store clears it. So a created, updated,
//! deleted, garbage-collected or namespace-swept Service frees or takes its addresses with
//! no caller's help, and a dry-run, which stores nothing, takes nothing. Allocating then
//! looks an address up instead of reading every Service.
//!
//! A client-chosen address or port another Service holds is refused before the write
//! ([`crate::defaults::service_claims`]). Entries are still counted, not just marked: should
//! two stored Services share one (a store restored from a snapshot), it stays taken until
//! both are gone.

use crate::store::ObjectKey;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::Hash;
use std::net::Ipv4Addr;

/// Cluster IPs and node ports in use, each with the number of stored Services naming it.
#[derive(Debug, Default)]
pub struct Allocations {
    ips: HashMap<Ipv4Addr, u32>,
    node_ports: HashMap<i64, u32>,
}

impl Allocations {
    /// Whether a stored Service has `ip` among its `clusterIPs`.
    pub fn ip_in_use(&self, ip: Ipv4Addr) -> bool {
        self.ips.contains_key(&ip)
    }

    /// Whether a stored Service has a port with this `nodePort`.
    pub fn node_port_in_use(&self, port: i64) -> bool {
        self.node_ports.contains_key(&port)
    }

    /// Accounts for the object at `key` changing from `old` to `new` (`None`: absent).
    pub(crate) fn replace(&mut self, key: &ObjectKey, old: Option<&Value>, new: Option<&Value>) {
        if !key.group.is_empty() || key.resource != "services" {
            return;
        }
        if let Some(old) = old {
            for ip in cluster_ips(old) {
                release(&mut self.ips, ip);
            }
            for port in node_ports(old) {
                release(&mut self.node_ports, port);
            }
        }
        if let Some(new) = new {
            for ip in cluster_ips(new) {
                *self.ips.entry(ip).or_default() += 1;
            }
            for port in node_ports(new) {
                *self.node_ports.entry(port).or_default() += 1;
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        self.ips.clear();
        self.node_ports.clear();
    }
}

/// One holder less of `item`; the entry goes when none is left.
fn release<K: Hash + Eq>(map: &mut HashMap<K, u32>, item: K) {
    if let Entry::Occupied(mut e) = map.entry(item) {
        *e.get_mut() -= 1;
        if *e.get() == 0 {
            e.remove();
        }
    }
}

/// A Service's IPv4 `clusterIPs` (`None` and IPv6 addresses are outside any range kubesim
/// allocates from).
fn cluster_ips(service: &Value) -> impl Iterator<Item = Ipv4Addr> + '_ {
    service
        .get("spec")
        .and_then(|s| s.get("clusterIPs"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|ip| ip.as_str()?.parse().ok())
}

/// A Service's ports' non-zero `nodePort`s.
pub(crate) fn node_ports(service: &Value) -> impl Iterator<Item = i64> + '_ {
    service
        .get("spec")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(spec_node_ports)
}

/// A Service spec's ports' non-zero `nodePort`s.
pub(crate) fn spec_node_ports(spec: &Map<String, Value>) -> impl Iterator<Item = i64> + '_ {
    spec.get("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("nodePort")?.as_i64())
        .filter(|n| *n != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(ips: &[&str], ports: &[i64]) -> Value {
        let ports: Vec<Value> = ports.iter().map(|n| json!({"nodePort": n})).collect();
        json!({"spec": {"clusterIPs": ips, "ports": ports}})
    }

    #[test]
    fn counts_holders_and_ignores_other_resources() {
        let key = ObjectKey::new("", "services", "a", "web");
        let ip: Ipv4Addr = "10.0.0.2".parse().unwrap();
        let mut a = Allocations::default();
        let one = svc(&["10.0.0.2"], &[30001]);
        a.replace(&key, None, Some(&one));
        a.replace(
            &ObjectKey::new("", "services", "b", "web"),
            None,
            Some(&one),
        );
        assert!(a.ip_in_use(ip) && a.node_port_in_use(30001));
        a.replace(&key, Some(&one), None);
        assert!(a.ip_in_use(ip), "the second Service still holds it");
        let moved = svc(&["10.0.0.3", "None", "fd00::1"], &[0, 30002]);
        a.replace(
            &ObjectKey::new("", "services", "b", "web"),
            Some(&one),
            Some(&moved),
        );
        assert!(!a.ip_in_use(ip) && !a.node_port_in_use(30001));
        assert!(a.ip_in_use("10.0.0.3".parse().unwrap()) && a.node_port_in_use(30002));
        assert!(!a.node_port_in_use(0));
        a.replace(
            &ObjectKey::new("", "configmaps", "a", "x"),
            None,
            Some(&one),
        );
        a.replace(
            &ObjectKey::new("other.io", "services", "a", "x"),
            None,
            Some(&one),
        );
        assert!(!a.ip_in_use(ip), "only core Services allocate");
        a.clear();
        assert!(!a.ip_in_use("10.0.0.3".parse().unwrap()));
    }
}
