// Package buildprogress runs `go build -v` and tells a person waiting for it what is being built and
// for how long: a cold build of the test stack (a kube-apiserver, etcd, FlytePropeller) takes 10-15
// minutes on two cores and prints nothing by itself. It imports only the standard library, so a
// command built on it compiles in a moment.
package buildprogress

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Interval is how often Run reports while a build goes on.
const Interval = 20 * time.Second

// Run runs `go build -v <args>` in dir. While it runs it writes to progress, every Interval, what is
// being built, the time elapsed, how many packages were compiled and the latest one; a build that
// compiles nothing (a warm cache) reports nothing. Run returns the build's error with its output.
func Run(dir, what string, progress io.Writer, args ...string) error {
	cmd := exec.Command("go", append([]string{"build", "-v"}, args...)...)
	cmd.Dir = dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("go build %s: %w", strings.Join(args, " "), err)
	}
	var c counter
	done := make(chan struct{})
	go c.read(stderr, done)
	ticker := time.NewTicker(Interval)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			n, last := c.snapshot()
			_, _ = fmt.Fprintf(progress, "  still building %s: %s elapsed, %d packages compiled (latest %s)\n",
				what, time.Since(started).Round(time.Second), n, last)
		case <-done:
			err := cmd.Wait()
			n, _ := c.snapshot()
			if err != nil {
				return fmt.Errorf("go build %s: %w\n%s", strings.Join(args, " "), err, c.output())
			}
			if n > 0 {
				_, _ = fmt.Fprintf(progress, "  built %s in %s (%d packages compiled)\n", what, time.Since(started).Round(time.Second), n)
			}
			return nil
		}
	}
}

// counter counts the package lines `go build -v` writes and keeps its whole output for errors.
type counter struct {
	mu    sync.Mutex // guards the fields below
	n     int
	last  string
	lines []string
}

func (c *counter) read(r io.Reader, done chan<- struct{}) {
	defer close(done)
	s := bufio.NewScanner(r)
	for s.Scan() {
		line := s.Text()
		c.mu.Lock()
		c.lines = append(c.lines, line)
		if !strings.HasPrefix(line, "#") && !strings.Contains(line, " ") {
			c.n, c.last = c.n+1, line
		}
		c.mu.Unlock()
	}
}

func (c *counter) snapshot() (int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n, c.last
}

func (c *counter) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.lines, "\n")
}
