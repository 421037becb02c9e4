package executor

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
// package it carries, readable by any user.
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
}

// TestImagesOwnFlyteactorsWinsOverTheInjectedOne: a runtime imports the flyteactors package the image
// installed (here: in a virtualenv's site-packages, or on the image's PYTHONPATH) before the one the
// executor brings, and the executor's when the image has none; with its arguments as given.
func TestImagesOwnFlyteactorsWinsOverTheInjectedOne(t *testing.T) {
	root := t.TempDir()
	image := filepath.Join(root, "image")
	out, err := exec.Command("python3", "-m", "venv", "--without-pip", image).CombinedOutput()
	require.NoError(t, err, "%s", out)
	sitePackages, err := filepath.Glob(filepath.Join(image, "lib", "python3*", "site-packages"))
	require.NoError(t, err)
	require.Len(t, sitePackages, 1)
	// A stand-in flyteactors whose runtime prints where its package was imported from, and its arguments.
	writePackage := func(dir string) {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "flyteactors", "runtime"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "flyteactors", "__init__.py"), nil, 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "flyteactors", "runtime", "__main__.py"),
			[]byte("import sys, flyteactors\nprint(flyteactors.__file__, sys.argv[1:], sys.path[0])\n"), 0o644))
	}
	injected, imageSrc, editable := filepath.Join(root, "injected"), filepath.Join(root, "src"), filepath.Join(root, "editable")
	writePackage(injected)
	python := filepath.Join(image, "bin", "python")
	runtime := func(env ...string) string {
		command := withInjectedPackage([]string{python, "-m", "flyteactors.runtime", "--slot", "1"}, injected)
		cmd := exec.Command(command[0], command[1:]...)
		cmd.Env, cmd.Dir = append(env, "PATH=/usr/bin:/bin"), root
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return strings.TrimSpace(string(out))
	}
	start, err := filepath.EvalSymlinks(root) // as os.getcwd() says it
	require.NoError(t, err)
	ran := func(pkg string) string {
		return filepath.Join(pkg, "flyteactors", "__init__.py") + " ['--slot', '1'] " + start // and the starting folder first, as -m has it
	}

	assert.Equal(t, ran(injected), runtime(), "an image without flyteactors runs the executor's")
	leftover := filepath.Join(root, "flyteactors") // a folder without __init__.py: a namespace package
	require.NoError(t, os.Mkdir(leftover, 0o755))
	assert.Equal(t, ran(injected), runtime(), "a leftover folder named flyteactors is no flyteactors")
	require.NoError(t, os.Remove(leftover))
	writePackage(imageSrc)
	assert.Equal(t, ran(imageSrc), runtime("PYTHONPATH="+imageSrc), "the image's PYTHONPATH first")
	// An editable install (pip install -e): a finder setuptools appends to sys.meta_path, after the one
	// that searches sys.path.
	writePackage(editable)
	require.NoError(t, os.WriteFile(filepath.Join(sitePackages[0], "editable_finder.py"), []byte(`import sys
from importlib.machinery import PathFinder
class Finder:
    @staticmethod
    def find_spec(name, path=None, target=None):
        return PathFinder.find_spec(name, [`+strconv.Quote(editable)+`]) if name == "flyteactors" else None
sys.meta_path.append(Finder)
`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(sitePackages[0], "editable.pth"), []byte("import editable_finder\n"), 0o644))
	assert.Equal(t, ran(editable), runtime(), "an editable install in the image first")
	writePackage(sitePackages[0])
	assert.Equal(t, ran(sitePackages[0]), runtime(), "the image's installed packages first")
	assert.Equal(t, []string{"python3", "other.py"}, withInjectedPackage([]string{"python3", "other.py"}, injected),
		"only a runtime started as a module is changed")
}
