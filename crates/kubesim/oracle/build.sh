#!/bin/sh
# Builds the structured-merge-diff oracle offline from Debian's Go sources
# (packages golang-go and golang-k8s-sigs-structured-merge-diff-dev).
# Usage: build.sh OUT_DIR   — writes OUT_DIR/ssa-oracle.
set -eu
out=$1
here=$(cd "$(dirname "$0")" && pwd)
gocode=/usr/share/gocode/src
command -v go >/dev/null || { echo "go not found: apt-get install -y golang-go golang-k8s-sigs-structured-merge-diff-dev" >&2; exit 2; }
[ -d "$gocode/sigs.k8s.io/structured-merge-diff" ] || { echo "structured-merge-diff sources not found: apt-get install -y golang-k8s-sigs-structured-merge-diff-dev" >&2; exit 2; }

# A private source tree per run, and the binary renamed into place at the end: two test
# processes sharing a target directory may build at the same time.
mkdir -p "$out"
src=$(mktemp -d "$out/src.XXXXXX")
trap 'rm -rf "$src"' EXIT
# Copies, because replace targets need a go.mod and some Debian source trees have none.
copy() { # module-path dir
	mkdir -p "$src/$2"
	cp -R "$gocode/$1/." "$src/$2/"
	[ -f "$src/$2/go.mod" ] || echo "module $1" > "$src/$2/go.mod"
}
copy sigs.k8s.io/structured-merge-diff smd
copy github.com/json-iterator/go json-iterator
copy github.com/modern-go/concurrent concurrent
copy github.com/modern-go/reflect2 reflect2
copy gopkg.in/yaml.v2 yaml
# The Debian tree's own go.mod asks for test-only modules that are not installed.
cat > "$src/smd/go.mod" <<'MOD'
module sigs.k8s.io/structured-merge-diff/v4

go 1.13

require (
	github.com/json-iterator/go v1.1.12
	gopkg.in/yaml.v2 v2.4.0
)
MOD
rm -f "$src/smd/go.sum"
# v4.1.2 keeps each conflict's path in a slice that later paths of the same walk overwrite
# (later releases copy it): without the copy, conflict paths come out wrong.
sed -i 's/Path:    p,/Path:    p.Copy(),/' "$src/smd/merge/conflict.go"
grep -q 'Path:    p.Copy(),' "$src/smd/merge/conflict.go"
# v4.1.2 calls an apply a no-op when nothing but ignored fields changed (its comparison
# has them filtered out in place); later releases, like the API server, compare the objects.
sed -i -e 's|if compare.IsSame() {|if value.Equals(liveObject.AsValue(), newObject.AsValue()) {|' \
	-e 's|managers, compare, err := s.update(liveObject, newObject, version, managers, manager, force)|managers, _, err = s.update(liveObject, newObject, version, managers, manager, force)|' \
	-e 's|"sigs.k8s.io/structured-merge-diff/v4/typed"|"sigs.k8s.io/structured-merge-diff/v4/typed"\n\t"sigs.k8s.io/structured-merge-diff/v4/value"|' \
	"$src/smd/merge/update.go"
grep -q 'value.Equals(liveObject' "$src/smd/merge/update.go"

mkdir -p "$src/oracle"
cp "$here/main.go" "$src/oracle/"
cat > "$src/oracle/go.mod" <<'MOD'
module kubesim/ssa-oracle

go 1.19

require (
	github.com/json-iterator/go v1.1.12
	github.com/modern-go/concurrent v1.0.0
	github.com/modern-go/reflect2 v1.0.2
	gopkg.in/yaml.v2 v2.4.0
	sigs.k8s.io/structured-merge-diff/v4 v4.1.2
)

replace (
	github.com/json-iterator/go => ../json-iterator
	github.com/modern-go/concurrent => ../concurrent
	github.com/modern-go/reflect2 => ../reflect2
	gopkg.in/yaml.v2 => ../yaml
	sigs.k8s.io/structured-merge-diff/v4 => ../smd
)
MOD
cd "$src/oracle"
GOFLAGS=-mod=mod GOPROXY=off GOSUMDB=off GOCACHE="$out/gocache" GOPATH="$out/gopath" go build -o "$src/ssa-oracle" .
mv -f "$src/ssa-oracle" "$out/ssa-oracle"
