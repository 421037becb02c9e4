package executor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/flyteactors/flyteactors/go/contract"
	executorv1 "github.com/flyteactors/flyteactors/go/executor/v1"
)

// runtimeEvent is one line the Python runtime writes on its control channel.
type runtimeEvent struct {
	Event  string `json:"event"`
	TaskID string `json:"task_id"`
	PID    int    `json:"pid"`
	// Failure is set on a "finished" event whose command did not complete.
	Failure *runtimeFailure `json:"failure"`
}

// runtimeFailure is a failure as the Python runtime reports it: the wire's Failure, but for OOM, which
// only the bridge can see (the runtime is killed).
type runtimeFailure struct {
	Kind      string `json:"kind"` // "user" or "system"
	Code      string `json:"code"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

func (f *runtimeFailure) toWire() *executorv1.Failure {
	kind := executorv1.FailureKind_FAILURE_KIND_SYSTEM
	if f.Kind == "user" {
		kind = executorv1.FailureKind_FAILURE_KIND_USER
	}
	return &executorv1.Failure{Kind: kind, Code: f.Code, Message: f.Message, Retryable: f.Retryable}
}

// systemFailure is a failure of the platform, with a code of package contract.
func systemFailure(code string, retryable bool, message string) *executorv1.Failure {
	return &executorv1.Failure{Kind: executorv1.FailureKind_FAILURE_KIND_SYSTEM, Code: code, Retryable: retryable, Message: message}
}

// runtimeRequest is one line the bridge writes to the runtime.
type runtimeRequest struct {
	TaskID  string            `json:"task_id"`
	Command []string          `json:"command"`
	Env     map[string]string `json:"env"`
}

// Runtime is one warm Python process that runs one task at a time (see python/flyteactors/runtime).
// Run and Kill may be called from different goroutines; Run calls must not overlap.
type Runtime struct {
	command []string
	stdout  io.Writer
	stderr  io.Writer

	mu      sync.Mutex // guards the process fields below
	proc    *exec.Cmd
	toProc  *os.File
	events  *bufio.Scanner
	exited  chan struct{}
	killed  bool
	waitErr error
	pid     int
}

// NewRuntime returns a runtime started with command (e.g. python3 -m flyteactors.runtime) whose task
// output goes to stdout and stderr. It starts on the first Start or Run.
func NewRuntime(command []string, stdout, stderr io.Writer) *Runtime {
	return &Runtime{command: command, stdout: stdout, stderr: stderr}
}

// PID returns the process id of the live runtime, or 0.
func (r *Runtime) PID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pid
}

// Start starts the runtime if it is not running and waits until it is warm.
func (r *Runtime) Start(ctx context.Context) error {
	r.mu.Lock()
	running := r.proc != nil
	r.mu.Unlock()
	if running {
		return nil
	}
	if len(r.command) == 0 {
		return errors.New("runtime command is empty")
	}
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return err
	}
	evR, evW, err := os.Pipe()
	if err != nil {
		_ = reqR.Close()
		_ = reqW.Close()
		return err
	}
	cmd := exec.Command(r.command[0], r.command[1:]...)
	cmd.Stdout, cmd.Stderr = r.stdout, r.stderr
	// The runtime reads requests on fd 3 and writes events on fd 4.
	cmd.ExtraFiles = []*os.File{reqR, evW}
	if err := cmd.Start(); err != nil {
		_ = reqR.Close()
		_ = reqW.Close()
		_ = evR.Close()
		_ = evW.Close()
		return fmt.Errorf("start runtime %v: %w", r.command, err)
	}
	_ = reqR.Close()
	_ = evW.Close()
	events := bufio.NewScanner(evR)
	events.Buffer(make([]byte, 64*1024), 16*1024*1024)
	exited := make(chan struct{})
	r.mu.Lock()
	r.proc, r.toProc, r.events, r.exited, r.killed, r.pid = cmd, reqW, events, exited, false, cmd.Process.Pid
	r.mu.Unlock()
	go func() {
		err := cmd.Wait()
		_ = evR.Close()
		r.mu.Lock()
		r.waitErr = err
		r.mu.Unlock()
		close(exited)
	}()

	ready := make(chan error, 1)
	go func() {
		ev, err := r.next()
		switch {
		case err != nil:
			ready <- err
		case ev.Event != "ready":
			ready <- fmt.Errorf("runtime said %q before it was ready", ev.Event)
		default:
			ready <- nil
		}
	}()
	select {
	case err := <-ready:
		if err != nil {
			r.discard()
			return fmt.Errorf("runtime did not become ready: %w", err)
		}
		return nil
	case <-ctx.Done():
		r.discard()
		return ctx.Err()
	}
}

// discard kills the runtime, waits for it, and forgets it, so that the next Start starts a new one.
func (r *Runtime) discard() {
	r.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.forgetLocked()
}

// forgetLocked drops the exited process, so that the next Start starts a new one. r.mu must be held.
func (r *Runtime) forgetLocked() {
	r.proc, r.pid = nil, 0
	if r.toProc != nil {
		_ = r.toProc.Close()
		r.toProc = nil
	}
}

// Run runs one task command and returns why it failed, or nil if the command completed. started is
// called once the runtime has begun the task. If the runtime dies, Run reports it and the next Run
// starts a fresh one.
func (r *Runtime) Run(ctx context.Context, taskID string, command []string, env map[string]string, started func()) *executorv1.Failure {
	if err := r.Start(ctx); err != nil {
		return systemFailure(contract.CodeRuntimeStartFailed, true, err.Error())
	}
	r.mu.Lock()
	toProc := r.toProc
	r.mu.Unlock()
	line, err := json.Marshal(runtimeRequest{TaskID: taskID, Command: command, Env: env})
	if err != nil {
		return systemFailure(contract.CodeRuntimeExited, false, err.Error())
	}
	if _, err := toProc.Write(append(line, '\n')); err != nil {
		return r.lost(fmt.Sprintf("cannot hand the task to the runtime: %v", err))
	}
	for {
		ev, err := r.next()
		if err != nil {
			return r.lost(err.Error())
		}
		switch {
		case ev.Event == "started" && ev.TaskID == taskID:
			started()
		case ev.Event == "finished" && ev.TaskID == taskID:
			if ev.Failure == nil {
				return nil
			}
			return ev.Failure.toWire()
		}
	}
}

// next reads the runtime's next event.
func (r *Runtime) next() (runtimeEvent, error) {
	r.mu.Lock()
	events := r.events
	r.mu.Unlock()
	if !events.Scan() {
		if err := events.Err(); err != nil {
			return runtimeEvent{}, err
		}
		return runtimeEvent{}, io.EOF
	}
	var ev runtimeEvent
	if err := json.Unmarshal(events.Bytes(), &ev); err != nil {
		return runtimeEvent{}, fmt.Errorf("bad runtime event %q: %w", events.Text(), err)
	}
	return ev, nil
}

// lost describes a runtime that went away mid-task, after waiting for its exit status.
func (r *Runtime) lost(why string) *executorv1.Failure {
	r.mu.Lock()
	exited := r.exited
	r.mu.Unlock()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		r.Kill()
		<-exited
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	killed, waitErr := r.killed, r.waitErr
	r.forgetLocked()
	if killed {
		return systemFailure(contract.CodeCancelled, false, "the task was cancelled")
	}
	out := systemFailure(contract.CodeRuntimeExited, true,
		fmt.Sprintf("the Python runtime exited while running the task (%v): %s", waitErr, why))
	var exitErr *exec.ExitError
	if errors.As(waitErr, &exitErr) {
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			// Nobody here sent SIGKILL: in a container that is the kernel's OOM killer.
			out.Oom = true
			out.Message = "the Python runtime was killed (SIGKILL) while running the task, most likely out of memory"
		}
	}
	return out
}

// Kill stops the runtime at once. A Run in progress returns with contract.CodeCancelled.
func (r *Runtime) Kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil && r.proc.Process != nil {
		r.killed = true
		_ = r.proc.Process.Kill()
	}
}

// Close stops the runtime and waits for it to exit.
func (r *Runtime) Close() {
	r.Kill()
	r.mu.Lock()
	exited := r.exited
	r.mu.Unlock()
	if exited != nil {
		<-exited
	}
}
