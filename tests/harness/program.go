package harness

import (
	"errors"
	"fmt"
	"os"
	"sync"
)

// errFatal unwinds a program after Fatal, as runtime.Goexit unwinds a test.
var errFatal = errors.New("fatal")

// RunProgram runs body as a program that is not a test (the demo, the soak), with a T whose logs go to
// a file (and to the terminal when verbose) and whose cleanups run when body returns, as testing does.
// It returns the program's exit code: 1 if body failed (the log's path is then printed), else 0.
func RunProgram(name string, verbose bool, body func(T) error) int {
	Setup()
	d := newProgramT(name, verbose)
	func() {
		defer func() {
			if r := recover(); r != nil && r != errFatal {
				panic(r)
			}
		}()
		if err := body(d); err != nil {
			fmt.Fprintf(os.Stderr, "%s failed: %v\n", name, err)
			d.Fail()
		}
	}()
	d.cleanup()
	if d.Failed() {
		fmt.Fprintf(os.Stderr, "the stack's log is in %s\n", d.logPath)
		return 1
	}
	return 0
}

// programT is the T of a program that is not a test: logs go to a file (and to the terminal when
// verbose), and cleanups run when the program ends.
type programT struct {
	mu       sync.Mutex
	cleanups []func()
	failed   bool
	verbose  bool
	log      *os.File
	logPath  string
	tempDirs []string
	name     string
}

func newProgramT(name string, verbose bool) *programT {
	f, err := os.CreateTemp("", "flyteactors-"+name+"-*.log")
	if err != nil {
		panic(err)
	}
	return &programT{verbose: verbose, log: f, logPath: f.Name(), name: name}
}

func (d *programT) Cleanup(f func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cleanups = append(d.cleanups, f)
}

// cleanup runs the cleanups, last registered first, as testing does.
func (d *programT) cleanup() {
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

func (d *programT) Log(args ...any) { d.write(fmt.Sprintln(args...)) }
func (d *programT) Logf(format string, args ...any) {
	d.write(fmt.Sprintf(format, args...) + "\n")
}

func (d *programT) write(s string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, _ = d.log.WriteString(s)
	if d.verbose {
		_, _ = os.Stderr.WriteString(s)
	}
}

func (d *programT) Error(args ...any)                 { d.Log(args...); d.Fail() }
func (d *programT) Errorf(format string, args ...any) { d.Logf(format, args...); d.Fail() }
func (d *programT) Fail() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failed = true
}
func (d *programT) FailNow() {
	d.Fail()
	panic(errFatal)
}
func (d *programT) Failed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.failed
}
func (d *programT) Fatal(args ...any) {
	fmt.Fprintln(os.Stderr, args...)
	d.Log(args...)
	d.FailNow()
}
func (d *programT) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	d.Logf(format, args...)
	d.FailNow()
}
func (d *programT) Helper()                          {}
func (d *programT) Name() string                     { return d.name }
func (d *programT) Setenv(key, value string)         { _ = os.Setenv(key, value) }
func (d *programT) Skip(args ...any)                 { d.Log(args...) }
func (d *programT) SkipNow()                         {}
func (d *programT) Skipf(format string, args ...any) { d.Logf(format, args...) }
func (d *programT) Skipped() bool                    { return false }
func (d *programT) TempDir() string {
	dir, err := os.MkdirTemp("", "flyteactors-"+d.name+"-")
	if err != nil {
		d.Fatalf("temp dir: %v", err)
	}
	d.mu.Lock()
	d.tempDirs = append(d.tempDirs, dir)
	d.mu.Unlock()
	return dir
}
