//! Prometheus metrics the hub exposes on `/metrics`.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// The hub's metric families and the registry that renders them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// 1 while the last database health check succeeded, 0 while PostgreSQL is unreachable.
    pub database_up: Gauge,
    /// Source fetches by `kind` and `result` (`Succeeded` or the failure's Flux reason).
    pub source_fetches: Family<Vec<(String, String)>, Counter>,
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
        let source_fetches = Family::default();
        registry.register(
            "source_fetches",
            "Source fetches by kind and result (Succeeded or the failure's Flux reason)",
            source_fetches.clone(),
        );
        Self {
            registry,
            database_up,
            source_fetches,
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
        metrics
            .source_fetches
            .get_or_create(&vec![
                ("kind".to_owned(), "Bucket".to_owned()),
                ("result".to_owned(), "Succeeded".to_owned()),
            ])
            .inc();
        let text = metrics.render().unwrap();
        assert!(
            text.contains(
                r#"flotilla_hub_source_fetches_total{kind="Bucket",result="Succeeded"} 1"#
            ),
            "{text}"
        );
    }
}
