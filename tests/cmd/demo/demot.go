package main

import (
	"errors"
	"fmt"
	"os"
	"sync"
)

// errFatal unwinds the demo after Fatal, as runtime.Goexit unwinds a test.
var errFatal = errors.New("fatal")

// demoT is the harness.T of the demo, which is not a test: logs go to a file (and to the terminal
// with -verbose), and cleanups run when the demo ends.
type demoT struct {
	mu       sync.Mutex
	cleanups []func()
	failed   bool
	verbose  bool
	log      *os.File
	logPath  string
	tempDirs []string
}

func newDemoT(verbose bool) *demoT {
	f, err := os.CreateTemp("", "flyteactors-demo-*.log")
	if err != nil {
		panic(err)
	}
	return &demoT{verbose: verbose, log: f, logPath: f.Name()}
}

func (d *demoT) Cleanup(f func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cleanups = append(d.cleanups, f)
}

// cleanup runs the cleanups, last registered first, as testing does.
func (d *demoT) cleanup() {
	for {
		d.mu.Lock()
		if len(d.cleanups) == 0 {
			d.mu.Unlock()
			break
		}
		f := d.cleanups[len(d.cleanups)-1]
		d.cleanups = d.cleanups[:len(d.cleanups)-1]
		d.mu.Unlock()
		f()
	}
	for _, dir := range d.tempDirs {
		_ = os.RemoveAll(dir)
	}
}

func (d *demoT) Log(args ...any) { d.write(fmt.Sprintln(args...)) }
func (d *demoT) Logf(format string, args ...any) {
	d.write(fmt.Sprintf(format, args...) + "\n")
}

func (d *demoT) write(s string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, _ = d.log.WriteString(s)
	if d.verbose {
		_, _ = os.Stderr.WriteString(s)
	}
}

func (d *demoT) Error(args ...any)                 { d.Log(args...); d.Fail() }
func (d *demoT) Errorf(format string, args ...any) { d.Logf(format, args...); d.Fail() }
func (d *demoT) Fail() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failed = true
}
func (d *demoT) FailNow() {
	d.Fail()
	panic(errFatal)
}
func (d *demoT) Failed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.failed
}
func (d *demoT) Fatal(args ...any) {
	fmt.Fprintln(os.Stderr, args...)
	d.Log(args...)
	d.FailNow()
}
func (d *demoT) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	d.Logf(format, args...)
	d.FailNow()
}
func (d *demoT) Helper()                          {}
func (d *demoT) Name() string                     { return "demo" }
func (d *demoT) Setenv(key, value string)         { _ = os.Setenv(key, value) }
func (d *demoT) Skip(args ...any)                 { d.Log(args...) }
func (d *demoT) SkipNow()                         {}
func (d *demoT) Skipf(format string, args ...any) { d.Logf(format, args...) }
func (d *demoT) Skipped() bool                    { return false }
func (d *demoT) TempDir() string {
	dir, err := os.MkdirTemp("", "flyteactors-demo-")
	if err != nil {
		d.Fatalf("temp dir: %v", err)
	}
	d.mu.Lock()
	d.tempDirs = append(d.tempDirs, dir)
	d.mu.Unlock()
	return dir
}
