//! Log setup: JSON lines for clusters, plain text for people at a terminal.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// `info`, except sqlx, whose notices ("relation already exists, skipping") are noise.
const DEFAULT_FILTER: &str = "info,sqlx=warn";

/// Installs the global subscriber; `RUST_LOG` overrides [`DEFAULT_FILTER`].
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}
