//! `flotilla-hub`: the controller binary. Everything but parsing the configuration and
//! printing the final error lives in the library (`flotilla_hub::run`).

use std::process::ExitCode;

use clap::Parser;
use flotilla_hub::config::Config;
use flotilla_hub::telemetry;

/// mimalloc, as in every Flotilla binary: see the workspace manifest.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    telemetry::init(config.log_format);
    match flotilla_hub::run::run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
