//! Writes one YAML file per Flotilla CRD into the directory given as the only argument.
//! `make crds` runs it with `manifests/crds`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        eprintln!("usage: crdgen <output directory>");
        return ExitCode::from(2);
    };
    let dir = PathBuf::from(dir);
    if let Err(err) = std::fs::create_dir_all(&dir) {
        eprintln!("crdgen: creating {}: {err}", dir.display());
        return ExitCode::FAILURE;
    }
    match flotilla_api::crds::write_all(&dir) {
        Ok(_) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("crdgen: {err}");
            ExitCode::FAILURE
        }
    }
}
