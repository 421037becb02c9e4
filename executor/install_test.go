package executor

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInstallCopiesTheExecutor(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "flyte-actor")
	require.NoError(t, Install(dir))
	self, err := os.Executable()
	require.NoError(t, err)
	want, err := os.Stat(self)
	require.NoError(t, err)
	got, err := os.Stat(filepath.Join(dir, "actor-executor"))
	require.NoError(t, err)
	assert.Equal(t, want.Size(), got.Size())
	assert.NotZero(t, got.Mode()&0o111, "executable")
}

// TestInstallBringsTheFlyteactorsPackage: beside the executor, the install writes the flyteactors
// package it carries, readable by any user, and the runtimes find it last on their PYTHONPATH, after
// whatever the image puts there.
func TestInstallBringsTheFlyteactorsPackage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "flyte-actor")
	require.NoError(t, Install(dir))
	require.NoError(t, Install(dir), "again (a pod's init container may run twice)")
	for _, f := range []string{"flyteactors/__init__.py", "flyteactors/runtime/__main__.py", "flyteactors/contract.py"} {
		info, err := os.Stat(filepath.Join(dir, InstalledPython, f))
		require.NoError(t, err, f)
		assert.NotZero(t, info.Mode()&0o004, "%s readable by others", f)
	}
	info, err := os.Stat(filepath.Join(dir, InstalledPython))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), info.Mode().Perm())

	env := withPythonPath([]string{"A=1", "PYTHONPATH=/image/src"}, "/flyte-actor/python")
	assert.Equal(t, []string{"A=1", "PYTHONPATH=/image/src:/flyte-actor/python"}, env, "the image's own first")
	assert.Equal(t, []string{"PYTHONPATH=/flyte-actor/python"}, withPythonPath(nil, "/flyte-actor/python"))
}
