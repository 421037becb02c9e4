package executor

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// process is one runtime process.
type process struct {
	cmd      *exec.Cmd
	pid      int
	toProc   *os.File
	fromProc *os.File
	events   *bufio.Scanner
	// exited is closed once the process has exited; waitErr is its exit status then.
	exited  chan struct{}
	waitErr error
}

// spawn starts a runtime process in a process group of its own, so that a cancel also stops what the
// task started, with the control channel on fds 3 and 4.
func (r *Runtime) spawn() (*process, error) {
	if len(r.opts.Command) == 0 {
		return nil, errors.New("runtime command is empty")
	}
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	evR, evW, err := os.Pipe()
	if err != nil {
		_ = reqR.Close()
		_ = reqW.Close()
		return nil, err
	}
	cmd := exec.Command(r.opts.Command[0], r.opts.Command[1:]...)
	cmd.Env = r.opts.Env
	cmd.Stdout, cmd.Stderr = r.opts.Stdout, r.opts.Stderr
	cmd.ExtraFiles = []*os.File{reqR, evW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	err = r.opts.Start(cmd)
	_ = reqR.Close()
	_ = evW.Close()
	if err != nil {
		_ = reqW.Close()
		_ = evR.Close()
		return nil, fmt.Errorf("start runtime %v: %w", r.opts.Command, err)
	}
	events := bufio.NewScanner(evR)
	events.Buffer(make([]byte, 64*1024), 16*1024*1024)
	p := &process{cmd: cmd, pid: cmd.Process.Pid, toProc: reqW, fromProc: evR, events: events, exited: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		// What the process wrote before it exited is still in the pipe, and must be read: a task that
		// said it started and then ended its runtime took the task, and is not to be run again. A
		// deadline, not a close, ends the reading, so that a child of the runtime that kept the pipe
		// open cannot hold the reader past the process's end.
		_ = evR.SetReadDeadline(time.Now().Add(exitedReadTime))
		p.waitErr = err
		close(p.exited)
	}()
	return p, nil
}

// next reads the process's next event.
func (p *process) next() (runtimeEvent, error) {
	if !p.events.Scan() {
		if err := p.events.Err(); err != nil {
			return runtimeEvent{}, err
		}
		return runtimeEvent{}, io.EOF
	}
	var ev runtimeEvent
	if err := json.Unmarshal(p.events.Bytes(), &ev); err != nil {
		return runtimeEvent{}, fmt.Errorf("bad runtime event %q: %w", p.events.Text(), err)
	}
	return ev, nil
}

func (p *process) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// release closes the bridge's ends of the control channel of an exited process.
func (p *process) release() {
	_ = p.toProc.Close()
	_ = p.fromProc.Close()
}

// exitedReadTime is how long the events an exited process wrote may still be read. They are in the pipe
// already and the reader is normally waiting on it, so this only has to outlast a busy machine's
// scheduling; it bounds the wait on a pipe a child of the process keeps open.
const exitedReadTime = 5 * time.Second

// exitCode returns the exit status a container would report for a process that ended with err:
// its exit code, or 128+signal.
func exitCode(err error) int32 {
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		return 0
	}
	if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int32(ws.Signal())
	}
	return int32(exitErr.ExitCode())
}

// exitDescription says how a process that ended with err ended.
func exitDescription(err error) string {
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Sprintf("was killed by %s", ws.Signal())
		}
		return fmt.Sprintf("exited with code %d", exitErr.ExitCode())
	}
	if err != nil {
		return fmt.Sprintf("ended: %v", err)
	}
	return "exited with code 0"
}
