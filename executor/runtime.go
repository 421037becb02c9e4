package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/flyteactors/flyteactors/go/contract"
	executorv1 "github.com/flyteactors/flyteactors/go/executor/v1"
)

// RuntimeOptions configure a Runtime.
type RuntimeOptions struct {
	// Command starts the runtime, e.g. python3 -m flyteactors.runtime.
	Command []string
	// Env is the runtime's environment (the executor's own, without its FLYTE_ACTOR_* identity).
	Env []string
	// Stdout and Stderr receive the runtime's and its tasks' output.
	Stdout, Stderr io.Writer
	// Start starts the runtime's process; default (*exec.Cmd).Start. The executor passes its spawner's,
	// so that runtimes die with it.
	Start func(*exec.Cmd) error
	// OOMKills counts the container's OOM kills; default: the cgroup at /sys/fs/cgroup.
	OOMKills oomCounter
	// WarmupTimeout bounds how long a runtime started again (after one died) may take to become ready;
	// default contract.DefaultWarmupTimeout.
	WarmupTimeout time.Duration
	// OnRestart, if set, is called each time the runtime is started again because its process died.
	OnRestart func()
}

// Runtime is one warm Python process that runs one task at a time (see python/flyteactors/runtime).
// Run and Cancel may be called from different goroutines; Run calls must not overlap.
type Runtime struct {
	opts RuntimeOptions

	mu sync.Mutex // guards the fields below
	// proc is the live process, or one that exited and is not replaced yet; nil before the first start.
	proc *process
	// current is the task Run is running, "" between tasks; cancelCurrent says it was cancelled.
	current       string
	cancelCurrent bool
	// cancelNext is a task cancelled before Run took it: Run refuses it.
	cancelNext string
	// version and pkg are what the runtime said of its flyteactors package when it was ready.
	version, pkg string
}

// Package returns the release of the flyteactors package the runtime runs and the folder it was
// imported from, as the runtime said when it became ready; "" before.
func (r *Runtime) Package() (version, folder string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.version, r.pkg
}

// NewRuntime returns a runtime; its process starts on the first Start or Run.
func NewRuntime(opts RuntimeOptions) *Runtime {
	if opts.Start == nil {
		opts.Start = (*exec.Cmd).Start
	}
	if opts.OOMKills == nil {
		opts.OOMKills = cgroupOOMKills("/sys/fs/cgroup")
	}
	if opts.WarmupTimeout <= 0 {
		opts.WarmupTimeout = contract.DefaultWarmupTimeout
	}
	return &Runtime{opts: opts}
}

// PID returns the process id of the runtime's process, or 0.
func (r *Runtime) PID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		return 0
	}
	return r.proc.pid
}

// Start makes sure a live runtime process is warm: it replaces one that exited (a runtime that died
// between tasks is restarted, never blamed on the next task) and waits until the new one is ready.
func (r *Runtime) Start(ctx context.Context) error {
	r.mu.Lock()
	p := r.proc
	r.mu.Unlock()
	if p != nil && !p.hasExited() {
		return nil
	}
	if p != nil {
		p.release()
		if r.opts.OnRestart != nil {
			r.opts.OnRestart()
		}
	}
	p, err := r.spawn()
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.proc = p
	r.mu.Unlock()
	ready := make(chan error, 1)
	go func() {
		ev, err := p.next()
		switch {
		case err != nil:
			ready <- err
		case ev.Event != "ready":
			ready <- fmt.Errorf("runtime said %q before it was ready", ev.Event)
		default:
			r.mu.Lock()
			r.version, r.pkg = ev.Version, ev.Package
			r.mu.Unlock()
			ready <- nil
		}
	}()
	select {
	case err := <-ready:
		if err != nil {
			r.kill(p)
			<-p.exited
			return fmt.Errorf("runtime did not become ready: %w (%s)", err, exitDescription(p.waitErr))
		}
		return nil
	case <-ctx.Done():
		r.kill(p)
		<-p.exited
		return ctx.Err()
	}
}

// startWithin is Start bounded by the warm-up timeout: a runtime that hangs while it starts again must
// not hold the task it was to run forever.
func (r *Runtime) startWithin(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.WarmupTimeout)
	defer cancel()
	err := r.Start(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("the Python runtime was not ready again within %s", r.opts.WarmupTimeout)
	}
	return err
}

// Run runs one task command and returns why it failed, or nil if the command completed. started is
// called once the runtime has begun the task. If the runtime dies before it took the task, a fresh
// one is started and given the task; if it dies running it, Run reports how, and the next Run starts
// a fresh one.
func (r *Runtime) Run(ctx context.Context, taskID string, command []string, env map[string]string, started func()) *executorv1.Failure {
	r.mu.Lock()
	if r.cancelNext == taskID {
		r.cancelNext = ""
		r.mu.Unlock()
		return cancelledFailure()
	}
	r.current, r.cancelCurrent = taskID, false
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.current, r.cancelCurrent = "", false
		r.mu.Unlock()
	}()

	request, err := json.Marshal(runtimeRequest{TaskID: taskID, Command: command, Env: env})
	if err != nil {
		return systemFailure(contract.CodeRuntimeExited, false, err.Error())
	}
	for try := 0; ; try++ {
		if err := r.startWithin(ctx); err != nil {
			// The task never reached a runtime: the caller may give it to another executor.
			return systemFailure(contract.CodeRuntimeStartFailed, true, err.Error())
		}
		r.mu.Lock()
		p, cancelled := r.proc, r.cancelCurrent
		r.mu.Unlock()
		if cancelled {
			return cancelledFailure()
		}
		failure, took := r.runOn(p, taskID, request, started)
		if !took && try == 0 {
			continue // the runtime died before it saw the task: not the task's doing
		}
		return failure
	}
}

// runOn hands the task to process p and waits for its end. took is false when p died before it
// reported the task started.
func (r *Runtime) runOn(p *process, taskID string, request []byte, started func()) (failure *executorv1.Failure, took bool) {
	oomBefore, oomKnown := r.opts.OOMKills()
	if _, err := p.toProc.Write(append(request, '\n')); err != nil {
		return r.died(p, false, fmt.Sprintf("cannot hand the task to the runtime: %v", err), oomBefore, oomKnown), false
	}
	for {
		ev, err := p.next()
		if err != nil {
			return r.died(p, took, err.Error(), oomBefore, oomKnown), took
		}
		switch {
		case ev.Event == "started" && ev.TaskID == taskID:
			took = true
			started()
		case ev.Event == "finished" && ev.TaskID == taskID:
			if ev.Failure == nil {
				return nil, true
			}
			return ev.Failure.toWire(), true
		}
	}
}

// died describes process p, which went away during a task, once it has exited.
func (r *Runtime) died(p *process, took bool, why string, oomBefore int64, oomKnown bool) *executorv1.Failure {
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		r.kill(p)
		<-p.exited
	}
	r.mu.Lock()
	cancelled := r.cancelCurrent
	r.mu.Unlock()
	if cancelled {
		return cancelledFailure()
	}
	if !took {
		return systemFailure(contract.CodeRuntimeExited, true, "the Python runtime exited before it took the task: "+why)
	}
	if p.waitErr == nil {
		// The task ended its process with status 0 (os._exit(0)): in a pod of its own that is a pod
		// that succeeded, whose outputs propeller then reads. So it is here.
		return nil
	}
	f := systemFailure(contract.CodeRuntimeExited, true,
		fmt.Sprintf("the Python runtime running the task %s: %s", exitDescription(p.waitErr), why))
	f.ExitCode = exitCode(p.waitErr)
	if oomAfter, ok := r.opts.OOMKills(); oomKnown && ok {
		f.Oom = oomAfter > oomBefore
	} else {
		// No cgroup to ask: nobody here sent a SIGKILL, and in a container that is the OOM killer.
		f.Oom = f.ExitCode == 128+int32(syscall.SIGKILL)
	}
	if f.Oom {
		f.Message = "the Python runtime was killed for running out of memory while running the task"
	}
	return f
}

// Cancel stops taskID if the runtime is running it (killing its process group), or makes Run refuse
// it if Run has not taken it yet. It never touches another task.
func (r *Runtime) Cancel(taskID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.current != taskID {
		r.cancelNext = taskID
		return
	}
	r.cancelCurrent = true
	if r.proc != nil {
		r.killLocked(r.proc)
	}
}

// Close stops the runtime and waits for its process to exit.
func (r *Runtime) Close() {
	r.mu.Lock()
	p := r.proc
	r.mu.Unlock()
	if p == nil {
		return
	}
	r.kill(p)
	<-p.exited
	p.release()
}

func (r *Runtime) kill(p *process) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.killLocked(p)
}

// killLocked kills p's process group. r.mu must be held, so that Cancel's decision and the kill are
// one step.
func (r *Runtime) killLocked(p *process) {
	_ = syscall.Kill(-p.pid, syscall.SIGKILL)
}
