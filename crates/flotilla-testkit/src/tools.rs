//! Where tests find the external binaries and data that `make tools` (`scripts/tools.sh`)
//! installs: `helm` v4, `kubectl` 1.35 and 1.37, and the Kubernetes schema definitions.
//!
//! Each lookup takes, in order:
//! 1. its environment override (`FLOTILLA_HELM`, `FLOTILLA_KUBECTL`, `FLOTILLA_KUBECTL_137`,
//!    `FLOTILLA_KUBERNETES_DEFINITIONS`), which must name an existing file;
//! 2. the stable path under the tools directory (`FLOTILLA_TOOLS_DIR`, else
//!    `~/.cache/flotilla/tools`): `bin/helm`, `bin/kubectl`, `bin/kubectl-1.37`,
//!    `schemas/kubernetes-v1.35.0/_definitions.json`.
//!
//! There is deliberately no fallback to `PATH`: `scripts/tools.sh` already links a suitable
//! `PATH` tool into `bin/`, after checking its version, so a test never runs an unchecked one.

use std::ffi::OsString;
use std::path::PathBuf;

/// Tools directory override; the same variable `scripts/tools.sh` reads.
pub const TOOLS_DIR_ENV: &str = "FLOTILLA_TOOLS_DIR";

/// Something under the tools directory that tests need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// `helm` v4.1.x.
    Helm,
    /// `kubectl` >= 1.35 (the pinned download is 1.35.2), with kustomize built in.
    Kubectl,
    /// `kubectl` 1.37.x.
    Kubectl137,
    /// Every built-in Kubernetes v1.35 type's JSON schema, under `$defs`, with the
    /// `x-kubernetes-list-*` and `x-kubernetes-patch-*` markers.
    KubernetesDefinitions,
}

impl Tool {
    pub const ALL: [Tool; 4] = [
        Tool::Helm,
        Tool::Kubectl,
        Tool::Kubectl137,
        Tool::KubernetesDefinitions,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tool::Helm => "helm",
            Tool::Kubectl => "kubectl",
            Tool::Kubectl137 => "kubectl-1.37",
            Tool::KubernetesDefinitions => "Kubernetes schema definitions",
        }
    }

    /// The environment variable that points straight at this tool.
    pub fn env_var(self) -> &'static str {
        match self {
            Tool::Helm => "FLOTILLA_HELM",
            Tool::Kubectl => "FLOTILLA_KUBECTL",
            Tool::Kubectl137 => "FLOTILLA_KUBECTL_137",
            Tool::KubernetesDefinitions => "FLOTILLA_KUBERNETES_DEFINITIONS",
        }
    }

    /// Where `scripts/tools.sh` puts it, relative to the tools directory.
    pub fn relative_path(self) -> &'static str {
        match self {
            Tool::Helm => "bin/helm",
            Tool::Kubectl => "bin/kubectl",
            Tool::Kubectl137 => "bin/kubectl-1.37",
            Tool::KubernetesDefinitions => "schemas/kubernetes-v1.35.0/_definitions.json",
        }
    }

    /// Finds the tool from the process environment.
    pub fn path(self) -> Result<PathBuf, ToolError> {
        locate(self, |name| std::env::var_os(name))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("{tool}: {var} is set to {path}, which does not exist; fix or unset {var}", tool = .tool.name(), var = .tool.env_var(), path = .path.display())]
    OverrideMissing { tool: Tool, path: PathBuf },
    #[error("{tool} is not installed at {path}: run `make tools` (or set {var})", tool = .tool.name(), var = .tool.env_var(), path = .path.display())]
    NotInstalled { tool: Tool, path: PathBuf },
    #[error(
        "cannot find the tools directory: neither {TOOLS_DIR_ENV} nor HOME is set; set one and run `make tools`"
    )]
    NoToolsDir,
}

/// `helm` v4.1.x.
pub fn helm() -> Result<PathBuf, ToolError> {
    Tool::Helm.path()
}

/// `kubectl` >= 1.35 with kustomize built in.
pub fn kubectl() -> Result<PathBuf, ToolError> {
    Tool::Kubectl.path()
}

/// `kubectl` 1.37.x.
pub fn kubectl_137() -> Result<PathBuf, ToolError> {
    Tool::Kubectl137.path()
}

/// The Kubernetes v1.35 `_definitions.json` (JSON Schema 2020-12, types under `$defs`).
pub fn kubernetes_definitions() -> Result<PathBuf, ToolError> {
    Tool::KubernetesDefinitions.path()
}

/// `FLOTILLA_TOOLS_DIR`, else `~/.cache/flotilla/tools`.
pub fn tools_dir() -> Result<PathBuf, ToolError> {
    tools_dir_from(|name| std::env::var_os(name))
}

// Lookups take the environment as a function so tests can exercise them without mutating
// the process environment (unsafe in Rust 2024, and racy across parallel tests).
fn non_empty(env: &impl Fn(&str) -> Option<OsString>, name: &str) -> Option<OsString> {
    env(name).filter(|v| !v.is_empty())
}

fn tools_dir_from(env: impl Fn(&str) -> Option<OsString>) -> Result<PathBuf, ToolError> {
    if let Some(dir) = non_empty(&env, TOOLS_DIR_ENV) {
        return Ok(PathBuf::from(dir));
    }
    let home = non_empty(&env, "HOME").ok_or(ToolError::NoToolsDir)?;
    Ok(PathBuf::from(home).join(".cache/flotilla/tools"))
}

fn locate(tool: Tool, env: impl Fn(&str) -> Option<OsString>) -> Result<PathBuf, ToolError> {
    if let Some(path) = non_empty(&env, tool.env_var()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(ToolError::OverrideMissing { tool, path })
        };
    }
    let path = tools_dir_from(env)?.join(tool.relative_path());
    // is_file follows symlinks, so a bin/ link whose target vanished counts as missing.
    if path.is_file() {
        Ok(path)
    } else {
        Err(ToolError::NotInstalled { tool, path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::path::Path;
    use std::process::Command;

    fn env_of(vars: &[(&str, &Path)]) -> impl Fn(&str) -> Option<OsString> + use<> {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_os_str().to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            let dir = std::env::temp_dir().join(format!("flotilla-tools-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"").unwrap();
    }

    #[test]
    fn tools_dir_defaults_under_home() {
        let env = env_of(&[("HOME", Path::new("/home/u"))]);
        assert_eq!(
            tools_dir_from(env).unwrap(),
            Path::new("/home/u/.cache/flotilla/tools")
        );
    }

    #[test]
    fn tools_dir_override_wins_and_empty_means_unset() {
        let env = env_of(&[
            ("HOME", Path::new("/home/u")),
            (TOOLS_DIR_ENV, Path::new("/t")),
        ]);
        assert_eq!(tools_dir_from(env).unwrap(), Path::new("/t"));
        let env = env_of(&[
            ("HOME", Path::new("/home/u")),
            (TOOLS_DIR_ENV, Path::new("")),
        ]);
        assert_eq!(
            tools_dir_from(env).unwrap(),
            Path::new("/home/u/.cache/flotilla/tools")
        );
        assert!(matches!(
            tools_dir_from(env_of(&[])),
            Err(ToolError::NoToolsDir)
        ));
    }

    #[test]
    fn finds_each_tool_at_its_stable_path() {
        let dir = TempDir::new();
        for tool in Tool::ALL {
            touch(&dir.0.join(tool.relative_path()));
        }
        let env = env_of(&[(TOOLS_DIR_ENV, &dir.0)]);
        for tool in Tool::ALL {
            assert_eq!(
                locate(tool, &env).unwrap(),
                dir.0.join(tool.relative_path())
            );
        }
    }

    #[test]
    fn override_wins_over_tools_dir() {
        let dir = TempDir::new();
        touch(&dir.0.join("bin/helm"));
        let mine = dir.0.join("elsewhere/helm");
        touch(&mine);
        let env = env_of(&[(TOOLS_DIR_ENV, &dir.0), ("FLOTILLA_HELM", &mine)]);
        assert_eq!(locate(Tool::Helm, env).unwrap(), mine);
    }

    #[test]
    fn missing_override_is_an_error_not_a_fallback() {
        let dir = TempDir::new();
        touch(&dir.0.join("bin/kubectl"));
        let gone = dir.0.join("nope/kubectl");
        let env = env_of(&[(TOOLS_DIR_ENV, &dir.0), ("FLOTILLA_KUBECTL", &gone)]);
        let err = locate(Tool::Kubectl, env).unwrap_err();
        assert!(matches!(err, ToolError::OverrideMissing { .. }));
        let msg = err.to_string();
        assert!(
            msg.contains("FLOTILLA_KUBECTL") && msg.contains("nope/kubectl"),
            "{msg}"
        );
    }

    #[test]
    fn not_installed_says_run_make_tools() {
        let dir = TempDir::new();
        let env = env_of(&[(TOOLS_DIR_ENV, &dir.0)]);
        let msg = locate(Tool::Kubectl137, env).unwrap_err().to_string();
        assert!(msg.contains("run `make tools`"), "{msg}");
        assert!(msg.contains("bin/kubectl-1.37"), "{msg}");
        assert!(msg.contains("FLOTILLA_KUBECTL_137"), "{msg}");
    }

    #[cfg(unix)]
    #[test]
    fn dangling_link_counts_as_not_installed() {
        let dir = TempDir::new();
        std::fs::create_dir_all(dir.0.join("bin")).unwrap();
        std::os::unix::fs::symlink(dir.0.join("gone"), dir.0.join("bin/helm")).unwrap();
        let env = env_of(&[(TOOLS_DIR_ENV, &dir.0)]);
        assert!(matches!(
            locate(Tool::Helm, env),
            Err(ToolError::NotInstalled { .. })
        ));
    }

    // The rest run the real tools that `make tools` installed.

    /// Panics with the Display form, which says to run `make tools`; unwrap would show Debug.
    fn installed(found: Result<PathBuf, ToolError>) -> PathBuf {
        found.unwrap_or_else(|e| panic!("{e}"))
    }

    fn run(program: &Path, args: &[&str]) -> String {
        let out = Command::new(program).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{} {args:?}: {}\n{}",
            program.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// (major, minor) from `kubectl version --client -o json`.
    fn kubectl_client_version(kubectl: &Path) -> (u32, u32) {
        let v: serde_json::Value =
            serde_json::from_str(&run(kubectl, &["version", "--client", "-o", "json"])).unwrap();
        let part = |k: &str| -> u32 {
            // Some builds report minor as e.g. "35+"; the digits are what matter.
            let s = v["clientVersion"][k].as_str().unwrap();
            s.trim_end_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .unwrap()
        };
        (part("major"), part("minor"))
    }

    #[test]
    fn helm_is_v4_1() {
        let helm = installed(helm());
        let version = run(&helm, &["version", "--template", "{{.Version}}"]);
        assert!(version.starts_with("v4.1."), "helm reports {version:?}");
    }

    #[test]
    fn kubectl_is_at_least_1_35() {
        let (major, minor) = kubectl_client_version(&installed(kubectl()));
        assert_eq!(major, 1);
        // tools.sh accepts a newer kubectl from PATH; the pinned download is 1.35.2.
        assert!(minor >= 35, "kubectl reports 1.{minor}");
    }

    #[test]
    fn kubectl_137_is_1_37() {
        assert_eq!(kubectl_client_version(&installed(kubectl_137())), (1, 37));
    }

    #[test]
    fn kubectl_has_kustomize_built_in() {
        let dir = TempDir::new();
        std::fs::write(
            dir.0.join("kustomization.yaml"),
            "namePrefix: fleet-\nconfigMapGenerator:\n- name: settings\n  literals: [mode=test]\n",
        )
        .unwrap();
        let rendered = run(
            &installed(kubectl()),
            &["kustomize", dir.0.to_str().unwrap()],
        );
        assert!(rendered.contains("kind: ConfigMap"), "{rendered}");
        assert!(rendered.contains("name: fleet-settings-"), "{rendered}");
    }

    #[test]
    fn kubernetes_definitions_have_merge_markers() {
        let text = std::fs::read_to_string(installed(kubernetes_definitions())).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let defs = doc["$defs"].as_object().unwrap();
        assert!(defs.contains_key("io.k8s.api.apps.v1.Deployment"));
        // Containers merge by name: the marker kubesim's server-side apply depends on.
        let containers = &defs["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
        assert_eq!(containers["x-kubernetes-list-type"], "map");
        assert_eq!(
            containers["x-kubernetes-list-map-keys"],
            serde_json::json!(["name"])
        );
    }
}
