//! Prometheus metrics the hub exposes on `/metrics`.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// The hub's metric families and the registry that renders them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// 1 while the last database health check succeeded, 0 while PostgreSQL is unreachable.
    pub database_up: Gauge,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("flotilla_hub");
        registry.register(
            "build",
            "Version of the running hub",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        let database_up = Gauge::default();
        registry.register(
            "database_up",
            "Whether the last PostgreSQL health check succeeded",
            database_up.clone(),
        );
        Self {
            registry,
            database_up,
        }
    }

    /// Renders every family in the OpenMetrics text format.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_database_gauge_with_its_value() {
        let metrics = Metrics::new();
        metrics.database_up.set(1);
        let text = metrics.render().unwrap();
        assert!(text.contains("flotilla_hub_database_up 1"), "{text}");
        assert!(text.contains("flotilla_hub_build_info{version="), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
