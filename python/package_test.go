package python

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPackageHoldsEveryModule: every module of flyteactors (and nothing else, no bytecode) is carried.
func TestPackageHoldsEveryModule(t *testing.T) {
	var onDisk, carried []string
	require.NoError(t, filepath.WalkDir("flyteactors", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(path) == ".py" {
			onDisk = append(onDisk, path)
		}
		return err
	}))
	require.NoError(t, fs.WalkDir(Package(), ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			carried = append(carried, path)
		}
		return err
	}))
	slices.Sort(onDisk)
	slices.Sort(carried)
	assert.Equal(t, onDisk, carried, "a new subpackage needs its pattern in package.go")
	_, err := os.Stat("flyteactors/__init__.py")
	require.NoError(t, err)
	assert.Contains(t, carried, "flyteactors/__init__.py")
}
