package harness

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/flyteactors/flyteactors/tests/internal/buildprogress"
)

// RepoRoot returns the root of the repository the tests run in (the folder with the root go.mod).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.Contains(string(data), "module github.com/flyteactors/flyteactors\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the repository root (go.mod of github.com/flyteactors/flyteactors)")
		}
		dir = parent
	}
}

var (
	buildOnce sync.Once
	buildErr  error
)

// PropellerBinary is where BuildBinaries puts the propeller the stack runs: the project's
// cmd/flytepropeller plus the harness's blob-store kind (propellerpatch/blobstore.go says why), kept
// apart from the product binary that `make build` writes to bin/flytepropeller.
const PropellerBinary = "bin/harness/flytepropeller"

// BuildBinaries builds the stack's propeller (PropellerBinary) and the project's actor-executor into
// <repo>/bin, once per process, reporting a long build's progress to progress (if not nil). Go's build
// cache makes a rebuild of unchanged code a link step.
func BuildBinaries(root string, progress io.Writer) error {
	buildOnce.Do(func() { buildErr = buildBinaries(root, progress) })
	return buildErr
}

func buildBinaries(root string, progress io.Writer) error {
	if progress == nil {
		progress = io.Discard
	}
	overlay, err := writePropellerOverlay(root)
	if err != nil {
		return err
	}
	if err := buildprogress.Run(root, "FlytePropeller with the actor plugin", progress,
		"-tags", "harness_propeller", "-overlay", overlay, "-o", filepath.Join(root, PropellerBinary), "./cmd/flytepropeller"); err != nil {
		return err
	}
	return buildprogress.Run(root, "the actor executor", progress, "-o", filepath.Join(root, "bin", "actor-executor"), "./cmd/actor-executor")
}

// writePropellerOverlay writes the go build -overlay file that adds propellerpatch/blobstore.go to
// cmd/flytepropeller, and returns its path.
func writePropellerOverlay(root string) (string, error) {
	overlay := map[string]map[string]string{"Replace": {
		filepath.Join(root, "cmd", "flytepropeller", "zz_harness_blobstore.go"): filepath.Join(root, "tests", "harness", "propellerpatch", "blobstore.go"),
	}}
	data, err := json.Marshal(overlay)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "bin", "harness")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "overlay.json")
	return path, os.WriteFile(path, data, 0o644)
}
