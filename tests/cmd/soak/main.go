// Command soak (`make soak`) runs steady load through the real stack for a while (10 minutes by
// default) and prints, every minute, the memory and goroutines of FlytePropeller, of each executor and
// of its Python runtimes: after warm-up the figures must stay flat. It fails if a workflow fails.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"

	"github.com/flyteactors/flyteactors/tests/harness"
)

func main() {
	duration := flag.Duration("duration", 10*time.Minute, "how long to keep the load up")
	every := flag.Duration("every", time.Minute, "how often to print the figures")
	inFlight := flag.Int("in-flight", 5, "workflows kept running at once (each maps 20 short actor tasks)")
	verbose := flag.Bool("verbose", false, "print every log line of the stack")
	flag.Parse()
	os.Exit(harness.RunProgram("soak", *verbose, func(t harness.T) error { return soak(t, *duration, *every, *inFlight) }))
}

func soak(t harness.T, duration, every time.Duration, inFlight int) error {
	ctx := context.Background()
	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	src := filepath.Join(root, "tests", "workflows")
	stack := harness.Start(t, src, harness.Options{})
	reg, err := stack.Serialize(ctx, src, "localhost/flytekit:local", "chaos")
	if err != nil {
		return err
	}
	fmt.Printf("soak: %s of load, %d workflows of 20 actor tasks in flight over 5 environments\n", duration, inFlight)
	// Live heap is measured after a garbage collection: it is what a process still holds, where RSS also
	// counts memory the Go runtime has not yet given back.
	fmt.Printf("%8s %9s %9s %9s %10s %9s %9s %10s %9s %9s\n", "elapsed", "workflows", "propeller", "propeller", "propeller",
		"executors", "executors", "executors", "runtimes", "runtimes")
	fmt.Printf("%8s %9s %9s %9s %10s %9s %9s %10s %9s %9s\n", "", "done", "RSS MiB", "live MiB", "goroutines",
		"RSS MiB", "live MiB", "goroutines", "RSS MiB", "threads")

	var done, failed atomic.Int64
	var firstErr atomic.Value
	stop := time.Now().Add(duration)
	var wg sync.WaitGroup
	for worker := range inFlight {
		wg.Go(func() {
			for i := 0; time.Now().Before(stop); i++ {
				lp := fmt.Sprintf("chaos.load.load_%d", (worker+i)%5)
				if _, err := stack.Run(ctx, reg, lp, map[string]*idlcore.Literal{"items": items(20)}, 5*time.Minute); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				done.Add(1)
			}
		})
	}
	start := time.Now()
	report := func() {
		prop := processFigures(stack.PropellerPID())
		goroutines := propellerGoroutines(stack.PropellerProfPort())
		live := propellerLiveHeapMiB(stack.PropellerProfPort())
		executors, runtimes := executorFigures(ctx, stack)
		fmt.Printf("%8s %9d %9.1f %9.1f %10d %9s %9s %10s %9s %9s\n", time.Since(start).Round(time.Second), done.Load(),
			prop.rssMiB, live, goroutines, executors.rss, executors.live, executors.goroutines, runtimes.rss, runtimes.threads)
	}
	finished := make(chan struct{})
	go func() {
		wg.Wait()
		close(finished)
	}()
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for running := true; running; {
		select {
		case <-ticker.C:
			report()
		case <-finished:
			running = false
		}
	}
	report()
	fmt.Printf("soak: %d workflows succeeded, %d failed\n", done.Load(), failed.Load())
	if err, ok := firstErr.Load().(error); ok {
		return fmt.Errorf("%d workflows failed, the first: %w", failed.Load(), err)
	}
	return nil
}

// items is a literal list of the integers 0..n-1.
func items(n int) *idlcore.Literal {
	list := make([]*idlcore.Literal, n)
	for i := range list {
		list[i] = &idlcore.Literal{Value: &idlcore.Literal_Scalar{Scalar: &idlcore.Scalar{Value: &idlcore.Scalar_Primitive{
			Primitive: &idlcore.Primitive{Value: &idlcore.Primitive_Integer{Integer: int64(i)}}}}}}
	}
	return &idlcore.Literal{Value: &idlcore.Literal_Collection{Collection: &idlcore.LiteralCollection{Literals: list}}}
}

// figures of one process.
type figures struct {
	rssMiB  float64
	threads int
}

// processFigures reads a process's resident memory and threads from /proc.
func processFigures(pid int) figures {
	var f figures
	file, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return f
	}
	defer func() { _ = file.Close() }()
	s := bufio.NewScanner(file)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		switch {
		case len(fields) >= 2 && fields[0] == "VmRSS:":
			kb, _ := strconv.ParseFloat(fields[1], 64)
			f.rssMiB = kb / 1024
		case len(fields) >= 2 && fields[0] == "Threads:":
			f.threads, _ = strconv.Atoi(fields[1])
		}
	}
	return f
}

// propellerGoroutines reads propeller's goroutine count from its pprof endpoint.
func propellerGoroutines(port int) int {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/goroutine?debug=1", port))
	if err != nil {
		return -1
	}
	defer func() { _ = resp.Body.Close() }()
	line, _ := bufio.NewReader(io.LimitReader(resp.Body, 4096)).ReadString('\n')
	n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "goroutine profile: total ")))
	return n
}

// propellerLiveHeapMiB reads propeller's heap after a garbage collection (pprof's heap profile with
// gc=1 collects first and ends with the runtime's memory statistics).
func propellerLiveHeapMiB(port int) float64 {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/heap?gc=1&debug=1", port))
	if err != nil {
		return -1
	}
	defer func() { _ = resp.Body.Close() }()
	s := bufio.NewScanner(resp.Body)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		if value, ok := strings.CutPrefix(s.Text(), "# HeapAlloc = "); ok {
			bytes, _ := strconv.ParseFloat(value, 64)
			return bytes / (1 << 20)
		}
	}
	return -1
}

// columns are per-process figures, joined for one table cell.
type columns struct{ rss, live, goroutines, threads string }

// statsLine is what an executor prints on SIGUSR1.
var statsLine = regexp.MustCompile(`actor-executor stats: goroutines=(\d+) heap_live_bytes=(\d+)`)

// executorFigures asks every executor for its goroutines (SIGUSR1) and reads the memory of the
// executors and of their Python runtimes.
func executorFigures(ctx context.Context, stack *harness.Stack) (executors, runtimes columns) {
	pods, err := stack.ExecutorPods(ctx)
	if err != nil {
		return
	}
	var execRSS, execLive, execG, rtRSS, rtThreads []string
	for _, p := range pods {
		key := p.Namespace + "/" + p.Name
		pid := stack.Kubelet.ContainerPID(key)
		if pid == 0 {
			continue
		}
		_ = syscall.Kill(pid, syscall.SIGUSR1)
		time.Sleep(100 * time.Millisecond)
		goroutines, live := "?", "?"
		logs := stack.Kubelet.Logs(key)
		for i := len(logs) - 1; i >= 0; i-- {
			if m := statsLine.FindStringSubmatch(logs[i]); m != nil {
				bytes, _ := strconv.ParseFloat(m[2], 64)
				goroutines, live = m[1], fmt.Sprintf("%.1f", bytes/(1<<20))
				break
			}
		}
		execRSS = append(execRSS, fmt.Sprintf("%.0f", processFigures(pid).rssMiB))
		execLive = append(execLive, live)
		execG = append(execG, goroutines)
		for _, child := range children(pid) {
			f := processFigures(child)
			rtRSS = append(rtRSS, fmt.Sprintf("%.0f", f.rssMiB))
			rtThreads = append(rtThreads, strconv.Itoa(f.threads))
		}
	}
	return columns{rss: summarize(execRSS), live: summarize(execLive), goroutines: summarize(execG)},
		columns{rss: summarize(rtRSS), threads: summarize(rtThreads)}
}

// summarize gives the smallest and largest of values, as "min-max".
func summarize(values []string) string {
	lo, hi := "", ""
	var loN, hiN float64
	for _, v := range values {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			continue
		}
		if lo == "" || n < loN {
			lo, loN = v, n
		}
		if hi == "" || n > hiN {
			hi, hiN = v, n
		}
	}
	switch {
	case len(values) == 0:
		return "-"
	case lo == "":
		return "?"
	case lo == hi:
		return lo
	}
	return lo + "-" + hi
}

// children returns the processes whose parent is pid.
func children(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
		if err != nil {
			continue
		}
		// The fields after the command name (which may hold spaces) start with state, then ppid.
		rest := string(stat[strings.LastIndexByte(string(stat), ')')+2:])
		if fields := strings.Fields(rest); len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}
