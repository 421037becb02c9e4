package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
)

// startProfiles starts CPU profiles of this process (which runs the API server and etcd) and of
// propeller (its pprof endpoint on port) into dir, if dir is set, and returns what stops them and writes
// them: dir/stack.pprof and dir/propeller.pprof, for `go tool pprof`.
func startProfiles(dir string, port int) (stop func() error, err error) {
	if dir == "" {
		return func() error { return nil }, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	own, err := os.Create(filepath.Join(dir, "stack.pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(own); err != nil {
		return nil, err
	}
	// Propeller profiles for a fixed time, about as long as the runs; read when they are done.
	propeller := make(chan error, 1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=8", port))
		if err != nil {
			propeller <- err
			return
		}
		defer func() { _ = resp.Body.Close() }()
		f, err := os.Create(filepath.Join(dir, "propeller.pprof"))
		if err != nil {
			propeller <- err
			return
		}
		_, err = io.Copy(f, resp.Body)
		if closeErr := f.Close(); err == nil {
			err = closeErr
		}
		propeller <- err
	}()
	return func() error {
		pprof.StopCPUProfile()
		if err := own.Close(); err != nil {
			return err
		}
		if err := <-propeller; err != nil {
			return fmt.Errorf("propeller's CPU profile: %w", err)
		}
		fmt.Printf("  CPU profiles of the runs: %s (the API server and etcd), %s (propeller)\n",
			filepath.Join(dir, "stack.pprof"), filepath.Join(dir, "propeller.pprof"))
		return nil
	}, nil
}
