package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"
)

// listedPackage is what the fake check needs of one `go list -deps -json` record.
type listedPackage struct {
	ImportPath string
	Standard   bool
	Imports    []string
}

// knownFakes are packages that stand in for a real thing but whose path does not end in
// "test"; none today. A simulation the binary links on purpose (acquisition/sim,
// calib/simdevice) says so in its name and is not listed here.
var knownFakes = map[string]bool{}

// isFake says whether the package at importPath is a test helper or a fake: the standard
// "testing" package and its subpackages, or a package of this module whose last element
// begins or ends with "test" (calibtest, daemontest, internal/testwait), or a known fake.
func isFake(p listedPackage) bool {
	if p.Standard {
		return p.ImportPath == "testing" || strings.HasPrefix(p.ImportPath, "testing/")
	}
	last := path.Base(p.ImportPath)
	return strings.HasSuffix(last, "test") || strings.HasPrefix(last, "test") || knownFakes[p.ImportPath]
}

// linkedFakes returns, for every fake among pkgs (the dependencies of root, as `go list -deps`
// lists them), the chain of imports from root that links it.
func linkedFakes(root string, pkgs []listedPackage) []string {
	byPath := make(map[string]listedPackage, len(pkgs))
	for _, p := range pkgs {
		byPath[p.ImportPath] = p
	}
	// Breadth first from root, so that each chain is a shortest one.
	from := map[string]string{root: ""}
	queue := []string{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, imp := range byPath[p].Imports {
			if _, seen := from[imp]; !seen {
				from[imp] = p
				queue = append(queue, imp)
			}
		}
	}
	var found []string
	for _, p := range pkgs {
		if !isFake(p) {
			continue
		}
		chain := []string{p.ImportPath}
		for q := from[p.ImportPath]; q != ""; q = from[q] {
			chain = append(chain, q)
		}
		slices.Reverse(chain)
		found = append(found, strings.Join(chain, " -> "))
	}
	return found
}

// decodeList reads the stream of JSON records `go list -json` writes.
func decodeList(r io.Reader) ([]listedPackage, error) {
	var pkgs []listedPackage
	dec := json.NewDecoder(r)
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return pkgs, nil
		} else if err != nil {
			return nil, fmt.Errorf("go list -json, record %d: %w", len(pkgs)+1, err)
		}
		pkgs = append(pkgs, p)
	}
}

// TestNoFakeLinked lists what the retinad binary links (`go list -deps -json ./cmd/retinad`,
// for this machine's build and for -tags purego) and fails on any test helper or fake among
// them, naming the imports that bring it in: fakes are reachable only from tests, and what the
// binary simulates on purpose lives in a package whose name says so.
func TestNoFakeLinked(t *testing.T) {
	for _, tags := range []string{"", "purego"} {
		args := []string{"list", "-deps", "-json=ImportPath,Standard,Imports"}
		if tags != "" {
			args = append(args, "-tags", tags)
		}
		cmd := exec.Command("go", append(args, ".")...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		pkgs, err := decodeList(bytes.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		const root = "retinad/cmd/retinad"
		if !slices.ContainsFunc(pkgs, func(p listedPackage) bool { return p.ImportPath == root }) {
			t.Fatalf("go %s listed %d packages but not %s itself", strings.Join(args, " "), len(pkgs), root)
		}
		for _, chain := range linkedFakes(root, pkgs) {
			t.Errorf("tags %q: the retinad binary links a test helper or fake: %s", tags, chain)
		}
	}
}

// The check itself must catch a fake however deep it is linked, the standard testing package,
// and nothing else: a simulation package, or a package that merely contains "test" mid-name.
func TestLinkedFakesFindsChains(t *testing.T) {
	pkgs := []listedPackage{
		{ImportPath: "retinad/cmd/retinad", Imports: []string{"retinad/daemon/rig", "fmt"}},
		{ImportPath: "retinad/daemon/rig", Imports: []string{"retinad/calib/photodiode", "retinad/acquisition/sim", "retinad/calib/simdevice"}},
		{ImportPath: "retinad/calib/photodiode", Imports: []string{"retinad/calib/calibtest", "retinad/internal/testwait"}},
		{ImportPath: "retinad/calib/calibtest", Imports: []string{"testing"}},
		{ImportPath: "retinad/internal/testwait"},
		{ImportPath: "retinad/acquisition/sim"},
		{ImportPath: "retinad/calib/simdevice"},
		{ImportPath: "retinad/attestation"},
		{ImportPath: "testing", Standard: true},
		{ImportPath: "internal/testlog", Standard: true},
		{ImportPath: "fmt", Standard: true},
	}
	got := linkedFakes("retinad/cmd/retinad", pkgs)
	want := []string{
		"retinad/cmd/retinad -> retinad/daemon/rig -> retinad/calib/photodiode -> retinad/calib/calibtest",
		"retinad/cmd/retinad -> retinad/daemon/rig -> retinad/calib/photodiode -> retinad/internal/testwait",
		"retinad/cmd/retinad -> retinad/daemon/rig -> retinad/calib/photodiode -> retinad/calib/calibtest -> testing",
	}
	if !slices.Equal(got, want) {
		t.Errorf("linkedFakes:\n got %q\nwant %q", got, want)
	}
	if _, err := decodeList(strings.NewReader(`{"ImportPath": "a"} {"ImportPath": `)); err == nil || !strings.Contains(err.Error(), "record 2") {
		t.Errorf("a truncated go list stream: err %v, want one naming record 2", err)
	}
}
