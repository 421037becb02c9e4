package executor

import (
	"context"
	"regexp"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flyteactors/flyteactors/go/contract"
	executorv1 "github.com/flyteactors/flyteactors/go/executor/v1"
)

func newTestRuntime(t *testing.T, out *syncBuffer, oomKills func() (int64, bool)) *Runtime {
	r := NewRuntime(RuntimeOptions{Command: []string{"python3", "testdata/fake_runtime.py"},
		Stdout: out, Stderr: out, OOMKills: oomKills})
	require.NoError(t, r.Start(context.Background()))
	t.Cleanup(r.Close)
	return r
}

func runTask(r *Runtime, id string, command ...string) *executorv1.Failure {
	return r.Run(context.Background(), id, command, nil, func() {})
}

// TestCancelStopsOnlyItsTask: a cancel names its task. A late cancel of a task that
// ended never kills the next one; a cancel that lands before the task reached the runtime still stops
// it; a cancelled task's runtime is replaced for the next task.
func TestCancelStopsOnlyItsTask(t *testing.T) {
	out := &syncBuffer{}
	r := newTestRuntime(t, out, nil)

	done := make(chan *executorv1.Failure, 1)
	go func() { done <- runTask(r, "b", "sleep", "0.5") }()
	time.Sleep(200 * time.Millisecond)
	r.Cancel("a") // a ended long ago
	assert.Nil(t, <-done, "b ran to its end")

	r.Cancel("c") // before c reached the runtime
	f := runTask(r, "c", "ok")
	require.NotNil(t, f)
	assert.Equal(t, contract.CodeCancelled, f.GetCode())
	assert.NotContains(t, out.String(), "ran c", "the cancelled task never ran")

	go func() { done <- runTask(r, "d", "sleep", "30") }()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	r.Cancel("d")
	f = <-done
	require.NotNil(t, f)
	assert.Equal(t, contract.CodeCancelled, f.GetCode())
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Nil(t, runTask(r, "e", "ok"), "a fresh runtime runs the next task")
}

// TestIdleRuntimeThatDiedIsRestartedNotBlamed: a runtime that died between tasks is replaced before the next
// task, which is not failed for it.
func TestIdleRuntimeThatDiedIsRestartedNotBlamed(t *testing.T) {
	r := newTestRuntime(t, &syncBuffer{}, nil)
	pid := r.PID()
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	require.Eventually(t, func() bool { return syscall.Kill(pid, 0) != nil }, 5*time.Second, 10*time.Millisecond)
	assert.Nil(t, runTask(r, "innocent", "ok"), "the next task runs in a new runtime")
	assert.NotEqual(t, pid, r.PID())
}

// TestCancelStopsWhatTheTaskStarted: the runtime's process group goes, children too.
func TestCancelStopsWhatTheTaskStarted(t *testing.T) {
	out := &syncBuffer{}
	r := newTestRuntime(t, out, nil)
	done := make(chan *executorv1.Failure, 1)
	go func() { done <- runTask(r, "spawner", "spawn") }()
	childLine := regexp.MustCompile(`child (\d+)`)
	require.Eventually(t, func() bool { return childLine.MatchString(out.String()) }, 10*time.Second, 10*time.Millisecond)
	child, err := strconv.Atoi(childLine.FindStringSubmatch(out.String())[1])
	require.NoError(t, err)
	r.Cancel("spawner")
	<-done
	require.Eventually(t, func() bool { return syscall.Kill(child, 0) != nil }, 5*time.Second, 10*time.Millisecond,
		"the task's child process was stopped with it")
}

// TestExitStatusesArePassedOn: a task that exits, and a runtime that dies, carry
// the status a pod would have exited with; an OOM kill is told by the container's OOM counter.
func TestExitStatusesArePassedOn(t *testing.T) {
	// Once armed, each read of the counter is one higher: the kernel killed something in between.
	var armed atomic.Bool
	var kills atomic.Int64
	r := newTestRuntime(t, &syncBuffer{}, func() (int64, bool) {
		if armed.Load() {
			return kills.Add(1), true
		}
		return kills.Load(), true
	})

	f := runTask(r, "exits", "exit", "3")
	require.NotNil(t, f)
	assert.Equal(t, contract.CodeEntrypointExited, f.GetCode())
	assert.Equal(t, int32(3), f.GetExitCode())

	f = runTask(r, "crashes", "crash", "7")
	require.NotNil(t, f)
	assert.Equal(t, contract.CodeRuntimeExited, f.GetCode())
	assert.Equal(t, int32(7), f.GetExitCode())
	assert.True(t, f.GetRetryable())
	assert.False(t, f.GetOom())

	armed.Store(true)
	f = runTask(r, "killed", "crash", "9")
	require.NotNil(t, f)
	assert.True(t, f.GetOom(), "the OOM counter rose while the task ran")
}

// TestTaskThatExitsItsProcessWithZeroSucceeds: a task that ends its process with status 0
// (os._exit(0)) succeeds, as its pod would have; the next task gets a fresh runtime.
func TestTaskThatExitsItsProcessWithZeroSucceeds(t *testing.T) {
	r := newTestRuntime(t, &syncBuffer{}, nil)
	pid := r.PID()
	assert.Nil(t, runTask(r, "exits-zero", "crash", "0"))
	assert.Nil(t, runTask(r, "next", "ok"))
	assert.NotEqual(t, pid, r.PID())
}

// TestEventsWrittenBeforeExitAreRead: a runtime that says a task started and then exits took the task
// (it is not run again on a new runtime as if it had never reached one), however late the bridge reads
// the events; and a child of the runtime that keeps the event pipe open does not hold the reader past
// the runtime's end.
func TestEventsWrittenBeforeExitAreRead(t *testing.T) {
	started := `echo '{"event":"started","task_id":"t"}' >&4`
	for name, script := range map[string]string{
		"exits":            started + "; exit 3",
		"child keeps pipe": "sleep 30 & " + started + "; exit 3",
	} {
		t.Run(name, func(t *testing.T) {
			r := NewRuntime(RuntimeOptions{Command: []string{"sh", "-c", script}})
			p, err := r.spawn()
			require.NoError(t, err)
			t.Cleanup(func() {
				r.kill(p)
				<-p.exited
				p.release()
			})
			<-p.exited // the bridge reads only now, after the process's end was seen
			ev, err := p.next()
			require.NoError(t, err, "the event written before the exit is read")
			assert.Equal(t, "started", ev.Event)
			done := make(chan error, 1)
			go func() {
				_, err := p.next()
				done <- err
			}()
			select {
			case err := <-done:
				assert.Error(t, err, "then the events end")
			case <-time.After(exitedReadTime + 5*time.Second):
				t.Fatal("the reader is held past the runtime's end")
			}
		})
	}
}
