//! Cluster IPs and node ports a client names itself, claimed as kube-apiserver's Service
//! allocators claim them before the Service is stored (1.33–1.35: cluster IPs come from
//! the ServiceCIDR allocators, `MultiCIDRServiceAllocator` being GA).
//!
//! - A requested cluster IP needs a range that holds it as a host address (not the network
//!   or broadcast address), else `the provided network does not match the current range`;
//!   an address another Service holds, or the first host (the `kubernetes` Service's), is
//!   `provided IP is already allocated`. Either is a 422 on `spec.clusterIPs`, the value
//!   being the requested list.
//! - A dry-run asks the range's dry-run allocator, which checks the range only, in its own
//!   words (`the provided IP (…) is not in the valid range. The range of valid IPs is …`),
//!   and never whether the address is held.
//! - A requested node port outside 30000–32767 is `provided port is not in the valid range.
//!   The range of valid ports is 30000-32767`; one another Service holds, in any namespace,
//!   is `provided port is already allocated`: a 422 on `spec.ports[i].nodePort`. A dry-run
//!   checks only whether the port is held. On create, two ports of different `port`
//!   numbers asking for one node port collide the same way.
//! - An update claims only what the stored Service did not hold, so a Service keeps its own
//!   address and ports. Node ports are claimed whenever the Service is a NodePort or
//!   LoadBalancer; cluster IPs on create and when an ExternalName Service becomes another
//!   type (otherwise `clusterIPs[0]` cannot change once set).
//!
//! What other Services hold is read from [`Allocations`]: a claim costs a lookup.

use super::service::parse_cidr;
use crate::allocations::Allocations;
use crate::status::{ApiError, Cause};
use serde_json::{Value, json};
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;

/// The node-port range (`--service-node-port-range`).
pub const NODE_PORTS: RangeInclusive<i64> = 30000..=32767;

const IP_ALLOCATED: &str = "provided IP is already allocated";
const NO_RANGE: &str = "the provided network does not match the current range";
const PORT_ALLOCATED: &str = "provided port is already allocated";

/// What a claim is checked against: the index of what stored Services hold, the cluster's
/// service range, and whether the request is a dry-run.
#[derive(Debug, Clone, Copy)]
pub struct Claims<'a> {
    pub held: &'a Allocations,
    pub cidr: &'a str,
    pub dry_run: bool,
}

impl<'a> Claims<'a> {
    /// Claims checked against what `store`'s Services hold and the range `cidr`.
    pub fn of(store: &'a crate::store::StoreState, cidr: &'a str, dry_run: bool) -> Self {
        Claims {
            held: store.allocations(),
            cidr,
            dry_run,
        }
    }

    /// Whether `service` is an ExternalName Service (which has no cluster IP).
    pub fn is_external_name(service: &Value) -> bool {
        service_type(service) == "ExternalName"
    }

    /// Refuses the cluster IP `service` asks for, if its allocator would (an ExternalName or
    /// headless Service, or one leaving the choice to the allocator, asks for none).
    pub fn cluster_ip(&self, service: &Value) -> Result<(), ApiError> {
        let Some((text, ip, list)) = requested_ip(service) else {
            return Ok(());
        };
        let Some(why) = self.ip_refusal(ip) else {
            return Ok(());
        };
        let detail = format!("Invalid value: {list}: failed to allocate IP {text}: {why}");
        Err(invalid(service, "spec.clusterIPs", &detail))
    }

    /// Refuses the first node port `service` asks for that its allocator would; `old` is
    /// the stored Service on an update, whose own ports are kept, not claimed.
    pub fn node_ports(&self, service: &Value, old: Option<&Value>) -> Result<(), ApiError> {
        let spec = service.get("spec").and_then(Value::as_object);
        if !spec.is_some_and(super::service::needs_node_ports) {
            return Ok(());
        }
        let own: Vec<i64> = old.map(requested_node_ports).unwrap_or_default();
        // (port, nodePort) claimed so far by this request.
        let mut claimed: Vec<(Option<i64>, i64)> = Vec::new();
        for (i, p) in ports(service).iter().enumerate() {
            let Some(n) = node_port(p).filter(|n| !own.contains(n)) else {
                continue;
            };
            let port = p.get("port").and_then(Value::as_i64);
            let why = match claimed.iter().find(|(_, m)| *m == n) {
                // An update claims each number once; a create shares it between ports of
                // one `port` number only (a TCP and a UDP port 53, say). A dry-run
                // allocator remembers its own claims too.
                Some((q, _)) if old.is_some() || *q == port => continue,
                Some(_) => Some(PORT_ALLOCATED.to_string()),
                None => self.port_refusal(n),
            };
            if let Some(why) = why {
                let field = format!("spec.ports[{i}].nodePort");
                return Err(invalid(
                    service,
                    &field,
                    &format!("Invalid value: {n}: {why}"),
                ));
            }
            claimed.push((port, n));
        }
        Ok(())
    }

    /// Why the allocator refuses `ip`, if it does.
    fn ip_refusal(&self, ip: Ipv4Addr) -> Option<String> {
        // The range was checked when the cluster started; a controller's create has none.
        let (base, size) = parse_cidr(self.cidr)?;
        let n = u32::from(ip);
        // Neither the network address nor (IPv4) the broadcast address is a host.
        let host = n > base && n < base + (size - 1);
        if self.dry_run {
            let range = format!("{}/{}", Ipv4Addr::from(base), size.leading_zeros() + 1);
            return (!host).then(|| {
                format!(
                    "the provided IP ({ip}) is not in the valid range. The range of valid IPs is {range}"
                )
            });
        }
        if !host {
            return Some(NO_RANGE.to_string());
        }
        (n == base + 1 || self.held.ip_in_use(ip)).then(|| IP_ALLOCATED.to_string())
    }

    /// Why the allocator refuses node port `n`, if it does.
    fn port_refusal(&self, n: i64) -> Option<String> {
        if !self.dry_run && !NODE_PORTS.contains(&n) {
            return Some(format!(
                "provided port is not in the valid range. The range of valid ports is {}-{}",
                NODE_PORTS.start(),
                NODE_PORTS.end()
            ));
        }
        self.held
            .node_port_in_use(n)
            .then(|| PORT_ALLOCATED.to_string())
    }
}

/// The requested primary cluster IP (as written, parsed) and the requested list (the
/// value the real server reports): `clusterIPs`, else `[clusterIP]`. `None` when there
/// is none to claim, or it is not an IPv4 address (outside any range kubesim serves).
fn requested_ip(service: &Value) -> Option<(String, Ipv4Addr, Value)> {
    let spec = service.get("spec")?;
    if Claims::is_external_name(service) {
        return None;
    }
    let list = match spec.get("clusterIPs") {
        Some(Value::Array(ips)) if !ips.is_empty() => Value::Array(ips.clone()),
        _ => json!([spec.get("clusterIP")?]),
    };
    let text = list.get(0)?.as_str()?.to_string();
    let ip = text.parse().ok()?;
    Some((text, ip, list))
}

/// The validation of a Service's ports that runs before any claim, whatever its type:
/// two ports may name one node port only with different protocols
/// (`spec.ports[i].nodePort: Duplicate value: …`).
pub fn validate(service: &Value) -> Result<(), ApiError> {
    let mut seen: Vec<(i64, &str)> = Vec::new();
    for (i, p) in ports(service).iter().enumerate() {
        let Some(n) = node_port(p) else {
            continue;
        };
        let protocol = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
        if seen.contains(&(n, protocol)) {
            let field = format!("spec.ports[{i}].nodePort");
            let detail = format!("Duplicate value: {n}");
            let cause = Cause {
                reason: "FieldValueDuplicate".to_string(),
                message: detail.clone(),
                field: field.clone(),
            };
            let name = service
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            return Err(ApiError::invalid_causes(
                "",
                "Service",
                name,
                &format!("{field}: {detail}"),
                vec![cause],
            ));
        }
        seen.push((n, protocol));
    }
    Ok(())
}

/// The non-zero node ports a Service's ports name.
pub fn requested_node_ports(service: &Value) -> Vec<i64> {
    crate::allocations::node_ports(service).collect()
}

fn node_port(port: &Value) -> Option<i64> {
    port.get("nodePort")
        .and_then(Value::as_i64)
        .filter(|n| *n != 0)
}

fn ports(service: &Value) -> &[Value] {
    service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn service_type(service: &Value) -> &str {
    service
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The registry's 422 for the Service.
fn invalid(service: &Value, field: &str, detail: &str) -> ApiError {
    let name = service
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    ApiError::invalid("", "Service", name, field, detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ObjectKey;

    fn svc(spec: Value) -> Value {
        json!({"metadata": {"name": "web"}, "spec": spec})
    }

    /// An index in which another Service holds 10.0.0.5 and node port 30080.
    fn held() -> Allocations {
        let mut a = Allocations::default();
        let other = json!({"spec": {"clusterIPs": ["10.0.0.5"], "ports": [{"nodePort": 30080}]}});
        a.replace(
            &ObjectKey::new("", "services", "x", "other"),
            None,
            Some(&other),
        );
        a
    }

    fn claims(held: &Allocations, dry_run: bool) -> Claims<'_> {
        Claims {
            held,
            cidr: "10.0.0.0/24",
            dry_run,
        }
    }

    fn ip_error(c: Claims<'_>, spec: Value) -> Option<String> {
        c.cluster_ip(&svc(spec)).err().map(|e| {
            assert_eq!((e.code, e.reason), (422, "Invalid"));
            assert_eq!(e.details.causes[0].field, "spec.clusterIPs");
            e.message
        })
    }

    #[test]
    fn cluster_ips_outside_the_range_or_held_are_refused() {
        let h = held();
        let c = claims(&h, false);
        assert_eq!(
            ip_error(c, json!({"clusterIP": "10.0.0.5"})).as_deref(),
            Some(
                r#"Service "web" is invalid: spec.clusterIPs: Invalid value: ["10.0.0.5"]: failed to allocate IP 10.0.0.5: provided IP is already allocated"#
            )
        );
        for ip in ["10.0.0.1", "10.0.0.5"] {
            let e = ip_error(c, json!({"clusterIPs": [ip]})).unwrap();
            assert!(e.ends_with(IP_ALLOCATED), "{e}");
        }
        for ip in ["10.0.1.7", "10.0.0.0", "10.0.0.255"] {
            let e = ip_error(c, json!({"clusterIP": ip, "clusterIPs": [ip]})).unwrap();
            assert!(e.ends_with(&format!("IP {ip}: {NO_RANGE}")), "{e}");
        }
        for spec in [
            json!({"clusterIP": "10.0.0.6"}),
            json!({"clusterIP": "10.0.0.254"}),
            json!({"clusterIP": "None"}),
            json!({"clusterIP": ""}),
            json!({}),
            json!({"type": "ExternalName", "clusterIP": "10.0.0.5"}),
        ] {
            assert_eq!(ip_error(c, spec.clone()), None, "{spec}");
        }
    }

    #[test]
    fn a_dry_run_checks_the_range_only() {
        let h = held();
        let c = claims(&h, true);
        assert_eq!(ip_error(c, json!({"clusterIP": "10.0.0.5"})), None);
        assert_eq!(
            ip_error(c, json!({"clusterIP": "10.0.1.7"})).as_deref(),
            Some(
                r#"Service "web" is invalid: spec.clusterIPs: Invalid value: ["10.0.1.7"]: failed to allocate IP 10.0.1.7: the provided IP (10.0.1.7) is not in the valid range. The range of valid IPs is 10.0.0.0/24"#
            )
        );
    }

    fn port_error(c: Claims<'_>, ports: Value, old: Option<Value>) -> Option<(String, String)> {
        let s = svc(json!({"type": "NodePort", "ports": ports}));
        c.node_ports(&s, old.as_ref())
            .err()
            .map(|e| (e.details.causes[0].field.clone(), e.message))
    }

    #[test]
    fn node_ports_outside_the_range_or_held_are_refused() {
        let h = held();
        let c = claims(&h, false);
        let (field, message) = port_error(
            c,
            json!([{"port": 80}, {"port": 443, "nodePort": 30080}]),
            None,
        )
        .unwrap();
        assert_eq!(field, "spec.ports[1].nodePort");
        assert_eq!(
            message,
            r#"Service "web" is invalid: spec.ports[1].nodePort: Invalid value: 30080: provided port is already allocated"#
        );
        let (_, message) = port_error(c, json!([{"port": 80, "nodePort": 8080}]), None).unwrap();
        assert!(message.ends_with(
            "Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767"
        ));
        // One node port for two `port` numbers: taken by the first on create, in a
        // dry-run too (its allocator remembers its own claims).
        let twice = json!([{"port": 80, "nodePort": 30001},
            {"port": 443, "protocol": "UDP", "nodePort": 30001}]);
        for c in [c, claims(&h, true)] {
            let (field, message) = port_error(c, twice.clone(), None).unwrap();
            assert_eq!(field, "spec.ports[1].nodePort");
            assert!(message.ends_with(PORT_ALLOCATED), "{message}");
        }
        // The same protocol too: validation's Duplicate value, before any claim.
        let same_protocol = svc(json!({"type": "ClusterIP", "clusterIP": "10.0.0.5",
            "ports": [{"port": 80, "nodePort": 30001}, {"port": 443, "nodePort": 30001}]}));
        let e = validate(&same_protocol).unwrap_err();
        assert_eq!(
            (e.details.causes[0].reason.as_str(), e.message.as_str()),
            (
                "FieldValueDuplicate",
                r#"Service "web" is invalid: spec.ports[1].nodePort: Duplicate value: 30001"#
            )
        );
        let shared = json!([{"port": 53, "nodePort": 30053},
            {"port": 53, "protocol": "UDP", "nodePort": 30053}]);
        assert_eq!(port_error(c, shared, None), None);
        // An update keeps its own ports, even one the index holds, and claims new ones once.
        let old = svc(json!({"ports": [{"port": 80, "nodePort": 30080}]}));
        assert_eq!(
            port_error(
                c,
                json!([{"port": 80, "nodePort": 30080}]),
                Some(old.clone())
            ),
            None
        );
        assert_eq!(port_error(c, twice, Some(old)), None);
        // A ClusterIP Service claims none; a dry-run checks only what is held.
        let s = svc(json!({"ports": [{"port": 80, "nodePort": 30080}]}));
        assert!(c.node_ports(&s, None).is_ok());
        let dry = claims(&h, true);
        assert_eq!(
            port_error(dry, json!([{"port": 80, "nodePort": 8080}]), None),
            None
        );
        assert!(port_error(dry, json!([{"port": 80, "nodePort": 30080}]), None).is_some());
    }
}
