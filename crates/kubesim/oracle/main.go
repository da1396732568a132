// Command ssa-oracle runs a sequence of server-side apply operations through
// structured-merge-diff (Kubernetes' merge library) and prints what it did, so
// kubesim's Rust implementation can be compared with it.
//
// Input (stdin, JSON): a schema and independent sequences of operations, each starting
// from an empty object:
//
//	{"schema": <SMD schema document>, "rootType": "name", "ignored": <fieldsV1 or null>,
//	 "sequences": [[{"op": "apply"|"update", "manager": "m", "version": "v1",
//	                 "force": false, "object": <object>}, ...], ...]}
//
// Output (stdout, JSON): per sequence, per step, the object after the step, every
// manager's field set as fieldsV1 text, and the conflicts of a rejected apply.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"sigs.k8s.io/structured-merge-diff/v4/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v4/merge"
	"sigs.k8s.io/structured-merge-diff/v4/typed"
	"sigs.k8s.io/structured-merge-diff/v4/value"
)

type step struct {
	Op      string          `json:"op"`
	Manager string          `json:"manager"`
	Version string          `json:"version"`
	Force   bool            `json:"force"`
	Object  json.RawMessage `json:"object"`
}

type input struct {
	Schema    json.RawMessage `json:"schema"`
	RootType  string          `json:"rootType"`
	Ignored   json.RawMessage `json:"ignored"`
	Sequences [][]step        `json:"sequences"`
}

type conflict struct {
	Manager string `json:"manager"`
	Path    string `json:"path"`
}

type managerOut struct {
	APIVersion string `json:"apiVersion"`
	Applied    bool   `json:"applied"`
	Fields     string `json:"fields"`
}

type stepOut struct {
	Object    json.RawMessage       `json:"object"`
	Managers  map[string]managerOut `json:"managers"`
	Conflicts []conflict            `json:"conflicts"`
	Error     string                `json:"error,omitempty"`
}

// identity stands in for version conversion: kubesim serves one version per resource.
type identity struct{}

func (identity) Convert(o *typed.TypedValue, _ fieldpath.APIVersion) (*typed.TypedValue, error) {
	return o, nil
}

func (identity) IsMissingVersionError(error) bool { return false }

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func main() {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fail("decoding input: %v", err)
	}
	parser, err := typed.NewParser(typed.YAMLObject(in.Schema))
	if err != nil {
		fail("parsing schema: %v", err)
	}
	pt := parser.Type(in.RootType)
	var ignored map[fieldpath.APIVersion]*fieldpath.Set
	if len(in.Ignored) > 0 && string(in.Ignored) != "null" {
		set := fieldpath.NewSet()
		if err := set.FromJSON(bytes.NewReader(in.Ignored)); err != nil {
			fail("parsing ignored fields: %v", err)
		}
		ignored = map[fieldpath.APIVersion]*fieldpath.Set{"v1": set}
	}
	var out [][]stepOut
	for _, steps := range in.Sequences {
		out = append(out, run(pt, ignored, steps))
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail("encoding output: %v", err)
	}
}

func run(pt typed.ParseableType, ignored map[fieldpath.APIVersion]*fieldpath.Set, steps []step) []stepOut {
	live, err := pt.FromYAML(typed.YAMLObject("{}"))
	if err != nil {
		fail("creating the empty object: %v", err)
	}
	updater := merge.Updater{Converter: identity{}, IgnoredFields: ignored}
	managers := fieldpath.ManagedFields{}
	var out []stepOut
	for i, s := range steps {
		obj, err := pt.FromYAML(typed.YAMLObject(s.Object))
		if err != nil {
			fail("step %d: parsing object: %v", i, err)
		}
		var res stepOut
		version := fieldpath.APIVersion(s.Version)
		switch s.Op {
		case "apply":
			newObj, newManagers, err := updater.Apply(live, obj, version, managers.Copy(), s.Manager, s.Force)
			if conflicts, ok := err.(merge.Conflicts); ok {
				for _, c := range conflicts {
					res.Conflicts = append(res.Conflicts, conflict{Manager: c.Manager, Path: c.Path.String()})
				}
			} else if err != nil {
				res.Error = err.Error()
			} else {
				if newObj != nil {
					live = newObj
				}
				managers = newManagers
			}
		case "update":
			newObj, newManagers, err := updater.Update(live, obj, version, managers.Copy(), s.Manager)
			if err != nil {
				res.Error = err.Error()
			} else {
				live = newObj
				managers = newManagers
			}
		default:
			fail("step %d: unknown op %q", i, s.Op)
		}
		if res.Object, err = value.ToJSON(live.AsValue()); err != nil {
			fail("step %d: encoding object: %v", i, err)
		}
		res.Managers = map[string]managerOut{}
		for name, vs := range managers {
			fields, err := vs.Set().ToJSON()
			if err != nil {
				fail("step %d: encoding fields: %v", i, err)
			}
			res.Managers[name] = managerOut{APIVersion: string(vs.APIVersion()), Applied: vs.Applied(), Fields: string(fields)}
		}
		out = append(out, res)
	}
	return out
}
