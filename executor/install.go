package executor

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/flyteactors/flyteactors/python"
)

// InstalledPython is the folder, beside the installed executor, that holds the flyteactors Python
// package it brings (see Install).
const InstalledPython = "python"

// Install copies the running executor binary into dir as dir/actor-executor, and the flyteactors Python
// package it carries into dir/InstalledPython: what the init container of an executor pod does, from
// the executor image into a volume the pod's primary container runs it from. The binary is static and
// the package pure Python, so both run in any image with Python and flytekit.
func Install(dir string) error {
	if err := installExecutable(dir); err != nil {
		return err
	}
	return installPython(dir)
}

// installPython writes the flyteactors package into dir/InstalledPython, replacing what an earlier run
// wrote: into a new folder first, renamed into place, so a runtime never imports half of it.
func installPython(dir string) error {
	tmp, err := os.MkdirTemp(dir, ".python-*")
	if err != nil {
		return fmt.Errorf("install the flyteactors package: %w", err)
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	if err := os.CopyFS(tmp, python.Package()); err != nil {
		return fmt.Errorf("install the flyteactors package: %w", err)
	}
	// Readable by whatever user the task's image runs as (MkdirTemp makes its folder private).
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("install the flyteactors package: %w", err)
	}
	target := filepath.Join(dir, InstalledPython)
	if err := os.RemoveAll(target); err != nil {
		return fmt.Errorf("install the flyteactors package: %w", err)
	}
	if err := os.Rename(tmp, target); err != nil {
		return fmt.Errorf("install the flyteactors package: %w", err)
	}
	return nil
}

// installExecutable copies the running binary into dir as dir/actor-executor.
func installExecutable(dir string) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	src, err := os.Open(self)
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	defer func() { _ = src.Close() }()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	target := filepath.Join(dir, "actor-executor")
	// Written under another name and renamed, so that nothing ever runs a half-copied binary.
	tmp, err := os.CreateTemp(dir, ".actor-executor-*")
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := io.Copy(tmp, src); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("install: copy to %s: %w", dir, err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("install: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	return nil
}
