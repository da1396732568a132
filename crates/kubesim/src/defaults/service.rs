//! Service defaults and cluster IPs: what the Service registry adds on create and keeps
//! on update.

use serde_json::{Map, Value};

fn spec_mut(object: &mut Value) -> Option<&mut Map<String, Value>> {
    object.get_mut("spec").and_then(Value::as_object_mut)
}

/// On update, what the registry carries over or derives before validation: allocated
/// values a client left out (a `PUT` of a manifest without `clusterIP`) come from the
/// stored Service, and a changed `clusterIP` with unchanged `clusterIPs` replaces the
/// primary IP (so validation reports it as a change of `clusterIPs[0]`).
pub fn normalize_update(old: &Value, new: &mut Value) {
    let Some(old_spec) = old.get("spec").and_then(Value::as_object) else {
        return;
    };
    let Some(spec) = spec_mut(new) else {
        return;
    };
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
}

/// An IPv4 CIDR (`10.96.0.0/12`) as its first address and size; `None` if malformed.
fn parse_cidr(cidr: &str) -> Option<(u32, u32)> {
    let (ip, bits) = cidr.split_once('/')?;
    let ip: std::net::Ipv4Addr = ip.parse().ok()?;
    let bits: u32 = bits.parse().ok().filter(|b| (8..=30).contains(b))?;
    let size = 1u32 << (32 - bits);
    Some((u32::from(ip) & !(size - 1), size))
}

/// The registry's part of creating a Service: a cluster IP from `cidr` unless the client
/// chose one (or `None` for a headless Service), `clusterIPs`, `ipFamilies` and
/// `ipFamilyPolicy`. `taken` says whether an address is in use. ExternalName Services get
/// none of these.
pub fn allocate(object: &mut Value, cidr: &str, taken: impl Fn(&str) -> bool) {
    let Some(spec) = spec_mut(object) else {
        return;
    };
    if spec.get("type").and_then(Value::as_str) == Some("ExternalName") {
        return;
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
        None => match pick(cidr, &taken) {
            Some(ip) => ip,
            // A full range: leave the Service without an IP rather than fail the write.
            None => return,
        },
    };
    spec.insert("clusterIP".into(), Value::String(ip.clone()));
    spec.entry("clusterIPs")
        .or_insert_with(|| Value::Array(vec![Value::String(ip)]));
    spec.entry("ipFamilies")
        .or_insert_with(|| serde_json::json!(["IPv4"]));
    spec.entry("ipFamilyPolicy")
        .or_insert_with(|| Value::String("SingleStack".into()));
}

/// A free address of `cidr`, at random as the real allocator picks (skipping the network
/// address, the first host — the `kubernetes` Service's — and the broadcast address).
fn pick(cidr: &str, taken: &impl Fn(&str) -> bool) -> Option<String> {
    let (base, size) = parse_cidr(cidr)?;
    let hosts = size - 3;
    let seed = u32::from_le_bytes(uuid::Uuid::new_v4().into_bytes()[..4].try_into().ok()?);
    (0..hosts)
        .map(|i| base + 2 + (seed.wrapping_add(i) % hosts))
        .map(|ip| std::net::Ipv4Addr::from(ip).to_string())
        .find(|ip| !taken(ip))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn allocates_from_the_range_and_skips_taken_addresses() {
        let mut s = json!({"spec": {"ports": [{"port": 80}]}});
        allocate(&mut s, "10.0.0.0/30", |_| false);
        assert_eq!(
            s["spec"]["clusterIP"], "10.0.0.2",
            "a /30 has one usable address"
        );
        assert_eq!(s["spec"]["clusterIPs"], json!(["10.0.0.2"]));
        assert_eq!(s["spec"]["ipFamilyPolicy"], "SingleStack");
        let mut s = json!({"spec": {}});
        allocate(&mut s, "10.0.0.0/29", |ip| ip != "10.0.0.5");
        assert_eq!(s["spec"]["clusterIP"], "10.0.0.5");
        let mut headless = json!({"spec": {"clusterIP": "None"}});
        allocate(&mut headless, "10.0.0.0/29", |_| false);
        assert_eq!(headless["spec"]["clusterIPs"], json!(["None"]));
        let mut ext = json!({"spec": {"type": "ExternalName", "externalName": "x.example"}});
        allocate(&mut ext, "10.0.0.0/29", |_| false);
        assert!(ext["spec"].get("clusterIP").is_none());
    }
}
