package executor

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Install copies the running executor binary into dir as dir/actor-executor: what the init container
// of an executor pod does, from the executor image into a volume the pod's primary container runs it
// from. The binary is static, so it runs in any image.
func Install(dir string) error {
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
