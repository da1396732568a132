//! Service defaults and cluster IPs: what the Service registry adds on create and keeps
//! on update.

use super::default;
use crate::allocations::spec_node_ports;
use crate::status::ApiError;
use serde_json::{Map, Value, json};
use std::net::Ipv4Addr;

/// `SetDefaults_Service`: session affinity, type, ports' protocol and target port, traffic
/// policies.
pub fn defaults(spec: &mut Map<String, Value>) {
    default(spec, "sessionAffinity", json!("None"));
    match spec.get("sessionAffinity").and_then(Value::as_str) {
        Some("None") => {
            spec.remove("sessionAffinityConfig");
        }
        Some("ClientIP") => {
            let cfg = spec
                .entry("sessionAffinityConfig")
                .or_insert_with(|| json!({}));
            if let Some(c) = cfg.as_object_mut() {
                let ip = c.entry("clientIP").or_insert_with(|| json!({}));
                if let Some(ip) = ip.as_object_mut() {
                    default(ip, "timeoutSeconds", json!(10800));
                }
            }
        }
        _ => {}
    }
    default(spec, "type", json!("ClusterIP"));
    if let Some(Value::Array(ports)) = spec.get_mut("ports") {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            default(p, "protocol", json!("TCP"));
            let unset = match p.get("targetPort") {
                None | Some(Value::Null) => true,
                Some(Value::Number(n)) => n.as_i64() == Some(0),
                Some(Value::String(s)) => s.is_empty(),
                _ => false,
            };
            if unset && let Some(port) = p.get("port").cloned() {
                p.insert("targetPort".into(), port);
            }
        }
    }
    let kind = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if matches!(kind.as_str(), "NodePort" | "LoadBalancer") {
        default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if matches!(kind.as_str(), "NodePort" | "LoadBalancer" | "ClusterIP") {
        default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if kind == "LoadBalancer" {
        default(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
}

/// Node ports (30000–32767) for the ports of a NodePort or LoadBalancer Service that have
/// none (a LoadBalancer with `allocateLoadBalancerNodePorts: false` gets none), other than
/// those `taken` or named by its other ports; a full range fails the write with the real
/// server's 500. On create (`share_by_number`), ports of one `port` number share a node
/// port (a TCP and a UDP port 53), as the registry's first allocation does; an update
/// gives each port without one its own.
pub fn allocate_node_ports(
    object: &mut Value,
    share_by_number: bool,
    taken: impl Fn(i64) -> bool,
) -> Result<(), ApiError> {
    let mut used = super::service_claims::requested_node_ports(object);
    let Some(spec) = spec_mut(object) else {
        return Ok(());
    };
    let opted_out = spec.get("type") == Some(&json!("LoadBalancer"))
        && spec.get("allocateLoadBalancerNodePorts") == Some(&Value::Bool(false));
    if !needs_node_ports(spec) || opted_out {
        return Ok(());
    }
    let seed = i64::from(uuid::Uuid::new_v4().as_u128() as u16);
    let Some(Value::Array(ports)) = spec.get_mut("ports") else {
        return Ok(());
    };
    let node_port = |p: &Map<String, Value>| {
        p.get("nodePort")
            .and_then(Value::as_i64)
            .filter(|n| *n != 0)
    };
    // (port, nodePort) of the ports that name one.
    let mut by_port: Vec<(Option<i64>, i64)> = ports
        .iter()
        .filter_map(Value::as_object)
        .filter_map(|p| Some((p.get("port").and_then(Value::as_i64), node_port(p)?)))
        .collect();
    for p in ports.iter_mut().filter_map(Value::as_object_mut) {
        if node_port(p).is_some() {
            continue;
        }
        let number = p.get("port").and_then(Value::as_i64);
        let shared = by_port
            .iter()
            .find(|(q, _)| share_by_number && *q == number)
            .map(|(_, n)| *n);
        let n = match shared {
            Some(n) => n,
            None => {
                let free = (0..2768)
                    .map(|i| 30000 + (seed + i) % 2768)
                    .find(|n| !taken(*n) && !used.contains(n));
                let Some(n) = free else {
                    return Err(range_full("nodePort"));
                };
                used.push(n);
                by_port.push((number, n));
                n
            }
        };
        p.insert("nodePort".into(), json!(n));
    }
    Ok(())
}

/// The registry's answer when an allocator has nothing left (`what`: `serviceIP`,
/// `nodePort`).
fn range_full(what: &str) -> ApiError {
    ApiError::internal(format!(
        "Internal error occurred: failed to allocate a {what}: range is full"
    ))
}

fn spec_mut(object: &mut Value) -> Option<&mut Map<String, Value>> {
    object.get_mut("spec").and_then(Value::as_object_mut)
}

/// On update, what the registry carries over or derives before validation:
///
/// - a Service changing to a type without a cluster IP (ExternalName) loses the address
///   it was given, and one changing to a type without node ports (ClusterIP,
///   ExternalName) loses its node ports, unless the client changed them (the registry's
///   `dropTypeDependentFields`): an apply switching the type, which leaves the fields the
///   server set alone, is then valid and frees them;
/// - allocated values a client left out (a `PUT` of a manifest without `clusterIP`) come
///   from the stored Service, node ports only while the type still has them;
/// - a changed `clusterIP` with unchanged `clusterIPs` replaces the primary IP (so
///   validation reports it as a change of `clusterIPs[0]`).
pub fn normalize_update(old: &Value, new: &mut Value) {
    let Some(old_spec) = old.get("spec").and_then(Value::as_object) else {
        return;
    };
    let Some(spec) = spec_mut(new) else {
        return;
    };
    drop_type_dependent_fields(old_spec, spec);
    let external =
        |s: &Map<String, Value>| s.get("type").and_then(Value::as_str) == Some("ExternalName");
    if external(old_spec) || external(spec) {
        return;
    }
    let unset = |s: &Map<String, Value>, f: &str| {
        s.get(f).is_none_or(|v| {
            v.is_null() || v.as_str() == Some("") || v.as_array().is_some_and(Vec::is_empty)
        })
    };
    if unset(spec, "clusterIP") && unset(spec, "clusterIPs") {
        for f in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            if let Some(v) = old_spec.get(f)
                && unset(spec, f)
            {
                spec.insert(f.to_string(), v.clone());
            }
        }
        keep_node_ports(old_spec, spec);
        return;
    }
    let ip = spec.get("clusterIP").cloned();
    if ip != old_spec.get("clusterIP").cloned()
        && spec.get("clusterIPs") == old_spec.get("clusterIPs")
        && let Some(ip) = ip.filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
    {
        spec.insert("clusterIPs".into(), Value::Array(vec![ip]));
    }
    if unset(spec, "clusterIPs")
        && let Some(ip) = spec
            .get("clusterIP")
            .cloned()
            .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
    {
        spec.insert("clusterIPs".into(), Value::Array(vec![ip]));
    }
    for f in ["ipFamilies", "ipFamilyPolicy"] {
        if unset(spec, f)
            && let Some(v) = old_spec.get(f)
        {
            spec.insert(f.to_string(), v.clone());
        }
    }
    keep_node_ports(old_spec, spec);
}

/// Whether a Service of this spec's type has node ports.
pub(crate) fn needs_node_ports(spec: &Map<String, Value>) -> bool {
    matches!(
        spec.get("type").and_then(Value::as_str),
        Some("NodePort" | "LoadBalancer")
    )
}

fn needs_cluster_ip(spec: &Map<String, Value>) -> bool {
    spec.get("type").and_then(Value::as_str) != Some("ExternalName")
}

/// Whether the Service can be reached from outside the cluster (`externalTrafficPolicy`
/// applies): node ports, or external IPs.
fn externally_accessible(spec: &Map<String, Value>) -> bool {
    needs_node_ports(spec)
        || matches!(
            spec.get("type").and_then(Value::as_str),
            None | Some("ClusterIP")
        ) && spec
            .get("externalIPs")
            .and_then(Value::as_array)
            .is_some_and(|ips| !ips.is_empty())
}

/// What no longer applies after a change of type, when the client left it as the server
/// set it (the registry's `dropTypeDependentFields`).
fn drop_type_dependent_fields(old_spec: &Map<String, Value>, spec: &mut Map<String, Value>) {
    let same = |spec: &Map<String, Value>, f: &str| old_spec.get(f) == spec.get(f);
    if needs_cluster_ip(old_spec) && !needs_cluster_ip(spec) {
        if same(spec, "clusterIP") && same(spec, "clusterIPs") {
            spec.remove("clusterIP");
            spec.remove("clusterIPs");
        }
        for f in ["ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy"] {
            if same(spec, f) {
                spec.remove(f);
            }
        }
    }
    // Node ports may be added, removed or moved, as long as none is new.
    let old_ports: Vec<i64> = spec_node_ports(old_spec).collect();
    if needs_node_ports(old_spec)
        && !needs_node_ports(spec)
        && spec_node_ports(spec).all(|n| old_ports.contains(&n))
        && let Some(Value::Array(ports)) = spec.get_mut("ports")
    {
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            port.remove("nodePort");
        }
    }
    if !externally_accessible(spec) && same(spec, "externalTrafficPolicy") {
        spec.remove("externalTrafficPolicy");
    }
    let load_balancer = |s: &Map<String, Value>| s.get("type") == Some(&json!("LoadBalancer"));
    if load_balancer(old_spec) && !load_balancer(spec) {
        for f in ["allocateLoadBalancerNodePorts", "loadBalancerClass"] {
            if same(spec, f) {
                spec.remove(f);
            }
        }
    }
}

/// Ports that lost their node port in an update keep the allocated one while the type
/// has node ports. Matched by port number and protocol; the registry matches by port
/// name, which validation makes unique among several ports (the two differ only for a
/// port renamed or renumbered in the same update).
fn keep_node_ports(old_spec: &Map<String, Value>, spec: &mut Map<String, Value>) {
    if !(needs_node_ports(old_spec) && needs_node_ports(spec)) {
        return;
    }
    let Some(Value::Array(old_ports)) = old_spec.get("ports") else {
        return;
    };
    let Some(Value::Array(ports)) = spec.get_mut("ports") else {
        return;
    };
    let key = |p: &Value| (p.get("port").cloned(), p.get("protocol").cloned());
    for p in ports.iter_mut() {
        if p.get("nodePort").is_some_and(|n| !n.is_null()) {
            continue;
        }
        if let Some(n) = old_ports
            .iter()
            .find(|o| key(o) == key(p))
            .and_then(|o| o.get("nodePort"))
            && let Some(m) = p.as_object_mut()
        {
            m.insert("nodePort".into(), n.clone());
        }
    }
}

/// An IPv4 CIDR (`10.96.0.0/12`) as its first address and size; `None` if malformed.
pub fn parse_cidr(cidr: &str) -> Option<(u32, u32)> {
    let (ip, bits) = cidr.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let bits: u32 = bits.parse().ok().filter(|b| (8..=30).contains(b))?;
    let size = 1u32 << (32 - bits);
    Some((u32::from(ip) & !(size - 1), size))
}

/// The registry's part of creating a Service: a cluster IP from `cidr` unless the client
/// chose one (or `None` for a headless Service), `clusterIPs`, `ipFamilies` and
/// `ipFamilyPolicy`. `taken` says whether an address is in use; a full range fails the
/// create with the real server's 500. ExternalName Services get none of these.
pub fn allocate(
    object: &mut Value,
    cidr: &str,
    taken: impl Fn(Ipv4Addr) -> bool,
) -> Result<(), ApiError> {
    let Some(spec) = spec_mut(object) else {
        return Ok(());
    };
    if spec.get("type").and_then(Value::as_str) == Some("ExternalName") {
        return Ok(());
    }
    let chosen = spec
        .get("clusterIP")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .or_else(|| {
            spec.get("clusterIPs")
                .and_then(|v| v.get(0))
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    let ip = match chosen {
        Some(ip) => ip,
        None => pick(cidr, &taken)
            .ok_or_else(|| range_full("serviceIP"))?
            .to_string(),
    };
    spec.insert("clusterIP".into(), Value::String(ip.clone()));
    spec.entry("clusterIPs")
        .or_insert_with(|| Value::Array(vec![Value::String(ip)]));
    spec.entry("ipFamilies")
        .or_insert_with(|| serde_json::json!(["IPv4"]));
    spec.entry("ipFamilyPolicy")
        .or_insert_with(|| Value::String("SingleStack".into()));
    Ok(())
}

/// A free address of `cidr`, at random as the real allocator picks (skipping the network
/// address, the first host — the `kubernetes` Service's — and the broadcast address).
/// Probing from a random start finds a free address in about 1 / (free share) lookups.
fn pick(cidr: &str, taken: &impl Fn(Ipv4Addr) -> bool) -> Option<Ipv4Addr> {
    let (base, size) = parse_cidr(cidr)?;
    let hosts = size - 3;
    let seed = u32::from_le_bytes(uuid::Uuid::new_v4().into_bytes()[..4].try_into().ok()?);
    (0..hosts)
        .map(|i| Ipv4Addr::from(base + 2 + (seed.wrapping_add(i) % hosts)))
        .find(|ip| !taken(*ip))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn allocates_from_the_range_and_skips_taken_addresses() {
        let mut s = json!({"spec": {"ports": [{"port": 80}]}});
        allocate(&mut s, "10.0.0.0/30", |_| false).unwrap();
        assert_eq!(
            s["spec"]["clusterIP"], "10.0.0.2",
            "a /30 has one usable address"
        );
        assert_eq!(s["spec"]["clusterIPs"], json!(["10.0.0.2"]));
        assert_eq!(s["spec"]["ipFamilyPolicy"], "SingleStack");
        let mut s = json!({"spec": {}});
        allocate(&mut s, "10.0.0.0/29", |ip| ip != Ipv4Addr::new(10, 0, 0, 5)).unwrap();
        assert_eq!(s["spec"]["clusterIP"], "10.0.0.5");
        let mut headless = json!({"spec": {"clusterIP": "None"}});
        allocate(&mut headless, "10.0.0.0/29", |_| true).unwrap();
        assert_eq!(headless["spec"]["clusterIPs"], json!(["None"]));
        let mut ext = json!({"spec": {"type": "ExternalName", "externalName": "x.example"}});
        allocate(&mut ext, "10.0.0.0/29", |_| true).unwrap();
        assert!(ext["spec"].get("clusterIP").is_none());
        let mut full = json!({"spec": {}});
        let err = allocate(&mut full, "10.0.0.0/29", |_| true).unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (
                500,
                "Internal error occurred: failed to allocate a serviceIP: range is full"
            )
        );
        let mut np = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}]}});
        let err = allocate_node_ports(&mut np, true, |_| true).unwrap_err();
        assert_eq!(
            err.message,
            "Internal error occurred: failed to allocate a nodePort: range is full"
        );
    }

    /// On create, ports of one number share a node port, requested or allocated; others
    /// get their own, from what is not taken or named; on update, each its own.
    #[test]
    fn ports_of_one_number_share_a_node_port_on_create() {
        let node_ports_as = |create: bool, ports: Value| {
            let mut s = json!({"spec": {"type": "NodePort", "ports": ports}});
            allocate_node_ports(&mut s, create, |n| n < 32700).unwrap();
            let ports = s["spec"]["ports"].as_array().unwrap().clone();
            ports
                .iter()
                .map(|p| p["nodePort"].as_i64().unwrap())
                .collect::<Vec<_>>()
        };
        let node_ports = |ports: Value| node_ports_as(true, ports);
        let dns = node_ports(json!([{"port": 53, "protocol": "UDP"}, {"port": 53}, {"port": 80}]));
        assert_eq!(dns[0], dns[1]);
        assert_ne!(dns[0], dns[2]);
        let updated = node_ports_as(
            false,
            json!([{"port": 53, "protocol": "UDP"}, {"port": 53}]),
        );
        assert_ne!(updated[0], updated[1]);
        let named =
            node_ports(json!([{"port": 53}, {"port": 53, "protocol": "UDP", "nodePort": 30053}]));
        assert_eq!(named, [30053, 30053]);
        let many = node_ports(json!(
            (0..40)
                .map(|i| json!({"port": 1000 + i}))
                .collect::<Vec<_>>()
        ));
        let mut distinct = many.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 40);
        assert!(many.iter().all(|n| *n >= 32700), "{many:?}");
    }
}
