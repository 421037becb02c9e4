package executor

import (
	"context"
	"crypto/tls"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/actorpool/executorsvc"
	"github.com/flyteactors/flyteactors/actorpool/pooltest"
	"github.com/flyteactors/flyteactors/go/contract"
)

// fixture is a real pool with its gRPC service on loopback, and an environment spec.
type fixture struct {
	pool *actorpool.Pool
	addr string
	spec actorpool.EnvironmentSpec
	out  *syncBuffer
	stop func()
}

func newFixture(t *testing.T, slots int) *fixture { return newFixtureTLS(t, slots, nil) }

// newFixtureTLS is newFixture whose service speaks TLS with serverTLS, if it is not nil.
func newFixtureTLS(t *testing.T, slots int, serverTLS *tls.Config) *fixture {
	_, err := exec.LookPath("python3")
	require.NoError(t, err, "python3 runs the stand-in runtime")
	ctx, cancel := context.WithCancel(context.Background())
	pool := actorpool.New(ctx, pooltest.NewCluster(), func(types.NamespacedName) {}, actorpool.Options{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	svc := executorsvc.New(pool, executorsvc.Options{HeartbeatInterval: time.Second, TLS: serverTLS})
	served := make(chan struct{})
	go func() {
		defer close(served)
		// An executor service that stops before the test does would leave executors dialling nothing.
		if err := svc.Serve(ctx, lis); err != nil || ctx.Err() == nil {
			t.Errorf("the executor service on %s stopped before the test ended: %v", lis.Addr(), err)
		}
	}()
	f := &fixture{
		pool: pool, addr: lis.Addr().String(), out: &syncBuffer{},
		spec: actorpool.EnvironmentSpec{
			Key:      actorpool.EnvironmentKey{Namespace: "ns", Name: "env", Version: "v"},
			Replicas: 1, Slots: slots, TTL: time.Hour, Pod: &corev1.Pod{}, PrimaryContainer: "actor",
		},
	}
	f.stop = func() {
		cancel()
		<-served
		pool.Wait()
	}
	t.Cleanup(f.stop)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the executor and its runtimes said:\n%s", f.out.String())
		}
	})
	return f
}

func (f *fixture) executor(t *testing.T, token string, slots int) *Executor {
	x, err := New(Config{
		PoolAddress: f.addr, EnvironmentID: f.spec.Key.ID(), PodName: "pod-1", Token: token, Slots: slots,
		RuntimeCommand: []string{"python3", "testdata/fake_runtime.py"},
		Stdout:         f.out, Stderr: f.out, ReconnectDelay: 50 * time.Millisecond, DrainTimeout: 2 * time.Second,
	})
	require.NoError(t, err)
	return x
}

func (f *fixture) submit(t *testing.T, id string, command ...string) {
	require.NoError(t, f.pool.Submit(context.Background(), actorpool.Task{
		ID: id, Environment: f.spec, Command: command, Env: []actorpool.EnvVar{{Name: "MESSAGE", Value: "bad " + id}},
	}))
}

func (f *fixture) waitTerminal(t *testing.T, id string) actorpool.TaskStatus {
	t.Helper()
	var s actorpool.TaskStatus
	require.Eventually(t, func() bool {
		var known bool
		s, known = f.pool.Status(id)
		return known && s.Phase().IsTerminal()
	}, 20*time.Second, 10*time.Millisecond, "task %s did not end", id)
	return s
}

// runExecutor runs x until the test ends and checks it stops.
func runExecutor(t *testing.T, x *Executor) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- x.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("executor did not stop")
		}
	})
}

func TestExecutorRunsAssignmentsAndReportsResults(t *testing.T) {
	f := newFixture(t, 1)
	f.submit(t, "a", "ok")
	f.submit(t, "b", "fail")
	f.submit(t, "c", "crash", "3")
	f.submit(t, "d", "ok")
	runExecutor(t, f.executor(t, pooltest.Token(f.spec.Key, "pod-1"), 1))

	a := f.waitTerminal(t, "a")
	assert.Equal(t, actorpool.TaskSucceeded, a.Phase())
	assert.Equal(t, "pod-1", a.Executor)
	assert.False(t, a.StartedAt.IsZero())

	b := f.waitTerminal(t, "b")
	require.Equal(t, actorpool.TaskFailed, b.Phase())
	failure, _ := b.Failure()
	assert.Equal(t, actorpool.FailureUser, failure.Kind)
	assert.Equal(t, "bad b", failure.Message, "the task's env reached the runtime")

	c := f.waitTerminal(t, "c")
	require.Equal(t, actorpool.TaskFailed, c.Phase())
	failure, _ = c.Failure()
	assert.Equal(t, actorpool.FailureSystem, failure.Kind)
	assert.Equal(t, contract.CodeRuntimeExited, failure.Code)
	assert.True(t, failure.Retryable)
	assert.False(t, failure.OOM)

	assert.Equal(t, actorpool.TaskSucceeded, f.waitTerminal(t, "d").Phase(), "a fresh runtime replaced the crashed one")
	assert.Contains(t, f.out.String(), "=== actor task a: start at ")
	assert.Contains(t, f.out.String(), "ran d in ")
}

func TestExecutorWithWrongTokenIsRefused(t *testing.T) {
	f := newFixture(t, 1)
	f.submit(t, "a", "ok")
	x := f.executor(t, "wrong", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := x.Run(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "refused")
	s, _ := f.pool.Status("a")
	assert.Equal(t, actorpool.TaskQueued, s.Phase())
}

// TestRuntimeThatCannotStartEndsTheExecutor: no flytekit or an import that fails ends the executor
// with ErrRuntimeCannotStart (a problem of the image, its own exit code); a warm-up that does not end
// in time with ErrRuntimeUnavailable (another pod may be quicker). The runtime's own words come before.
func TestRuntimeThatCannotStartEndsTheExecutor(t *testing.T) {
	for name, tc := range map[string]struct {
		command []string
		// warmup is the warm-up timeout: long where the runtime fails, so that a slow machine's Python
		// start does not end it first.
		warmup time.Duration
		says   string
		err    error
	}{
		"import fails":    {[]string{"python3", "-c", "import no_such_module_anywhere"}, 30 * time.Second, "No module named 'no_such_module_anywhere'", ErrRuntimeCannotStart},
		"never gets warm": {[]string{"sleep", "60"}, 300 * time.Millisecond, "not warm after 300ms", ErrRuntimeUnavailable},
	} {
		t.Run(name, func(t *testing.T) {
			out := &syncBuffer{}
			x, err := New(Config{PoolAddress: "127.0.0.1:1", EnvironmentID: "e", PodName: "p", Token: "t", Slots: 2,
				RuntimeCommand: tc.command, Stdout: out, Stderr: out, WarmupTimeout: tc.warmup})
			require.NoError(t, err)
			start := time.Now()
			err = x.Run(context.Background())
			require.ErrorIs(t, err, tc.err)
			assert.Less(t, time.Since(start), 10*time.Second)
			assert.Contains(t, err.Error()+out.String(), tc.says)
		})
	}
}

// TestExecutorSaysWhichFlyteactorsTheRuntimesRun: the executor names, in its pod's log, the flyteactors
// release its runtimes import; a different one (the task's image brought its own, which comes first on
// the import path) or one that does not say (an older release) is a warning that says what to do.
func TestExecutorSaysWhichFlyteactorsTheRuntimesRun(t *testing.T) {
	for name, tc := range map[string]struct {
		env  []string
		says string
	}{
		"the executor's own": {[]string{"FAKE_FLYTEACTORS_VERSION=" + contract.Version, "FAKE_FLYTEACTORS_PACKAGE=/injected/flyteactors"},
			"runtimes run flyteactors " + contract.Version + " from /injected/flyteactors"},
		"the image's, another release": {[]string{"FAKE_FLYTEACTORS_VERSION=0.0.1", "FAKE_FLYTEACTORS_PACKAGE=/image/flyteactors"},
			"WARNING: the task's image has flyteactors 0.0.1 (/image/flyteactors), which comes before the executor's own " +
				contract.Version + ": they may not work together; install flyteactors==" + contract.Version},
		"one that does not say": {nil, "WARNING: the runtime did not say which flyteactors it runs"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel() // each ends after the executor's last try to reach the pool (5 s), which it never can
			out := &syncBuffer{}
			ctx, cancel := context.WithCancel(context.Background())
			x, err := New(Config{PoolAddress: "127.0.0.1:1", EnvironmentID: "e", PodName: "p", Token: "t", Slots: 1,
				RuntimeCommand: []string{"python3", "testdata/fake_runtime.py"}, RuntimeEnv: append(tc.env, "PATH=/usr/bin:/bin"),
				Stdout: out, Stderr: out, ReconnectDelay: 50 * time.Millisecond, DrainTimeout: 100 * time.Millisecond})
			require.NoError(t, err)
			done := make(chan error, 1)
			go func() { done <- x.Run(ctx) }()
			t.Cleanup(func() {
				cancel()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					t.Error("executor did not stop")
				}
			})
			require.Eventually(t, func() bool { return strings.Contains(out.String(), tc.says) }, 10*time.Second, 10*time.Millisecond,
				"the executor said:\n%s", out)
		})
	}
}

// TestStoppingExecutorFinishesItsTasksAndTakesNoNewOnes: on SIGTERM the executor
// drains: the running task ends well, a task queued meanwhile is not given to it, and it exits.
func TestStoppingExecutorFinishesItsTasksAndTakesNoNewOnes(t *testing.T) {
	f := newFixture(t, 1)
	f.submit(t, "running", "sleep", "1")
	x := f.executor(t, pooltest.Token(f.spec.Key, "pod-1"), 1)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- x.Run(ctx) }()
	require.Eventually(t, func() bool {
		s, _ := f.pool.Status("running")
		return s.Phase() == actorpool.TaskRunning
	}, 20*time.Second, 10*time.Millisecond)

	stop() // SIGTERM
	time.Sleep(100 * time.Millisecond)
	f.submit(t, "later", "ok")
	assert.Equal(t, actorpool.TaskSucceeded, f.waitTerminal(t, "running").Phase(), "the running task finished")
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the executor did not exit")
	}
	s, _ := f.pool.Status("later")
	assert.NotEqual(t, actorpool.TaskSucceeded, s.Phase(), "a stopping executor took no new task")
	assert.NotContains(t, f.out.String(), "ran later")
}

// TestStoppingExecutorReportsUnfinishedTasksLost: what cannot finish within the
// drain is reported lost (Flyte retries it), never dropped.
func TestStoppingExecutorReportsUnfinishedTasksLost(t *testing.T) {
	f := newFixture(t, 1)
	f.submit(t, "long", "sleep", "30")
	x := f.executor(t, pooltest.Token(f.spec.Key, "pod-1"), 1)
	x.cfg.DrainTimeout = 300 * time.Millisecond
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- x.Run(ctx) }()
	require.Eventually(t, func() bool {
		s, _ := f.pool.Status("long")
		return s.Phase() == actorpool.TaskRunning
	}, 20*time.Second, 10*time.Millisecond)
	stop()
	s := f.waitTerminal(t, "long")
	require.Equal(t, actorpool.TaskFailed, s.Phase())
	failure, _ := s.Failure()
	assert.Equal(t, contract.CodeExecutorLost, failure.Code)
	assert.True(t, failure.Retryable)
	assert.Contains(t, failure.Message, "was stopped")
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the executor did not exit")
	}
}

// TestExecutorStopsTakingTasksWhenRuntimeCannotRestart: a runtime that died and cannot be started
// again (it fails, or hangs past the warm-up timeout) must not make its executor swallow every task
// of the environment: the executor refuses the task unrun (the pool queues it again, costing no
// retry), says why it stops, and ends with ErrRuntimeUnavailable so that its pod is replaced.
func TestExecutorStopsTakingTasksWhenRuntimeCannotRestart(t *testing.T) {
	for _, restart := range []string{"fails", "hang"} {
		t.Run(restart, func(t *testing.T) {
			f := newFixture(t, 1)
			x, err := New(Config{
				PoolAddress: f.addr, EnvironmentID: f.spec.Key.ID(), PodName: "pod-1", Token: pooltest.Token(f.spec.Key, "pod-1"),
				Slots: 1, RuntimeCommand: []string{"testdata/restart_fails.sh", t.TempDir() + "/started"},
				RuntimeEnv: []string{"RESTART=" + restart, "PATH=/usr/bin:/bin"}, Stdout: f.out, Stderr: f.out,
				ReconnectDelay: 50 * time.Millisecond, DrainTimeout: 2 * time.Second, WarmupTimeout: 500 * time.Millisecond,
			})
			require.NoError(t, err)
			done := make(chan error, 1)
			go func() { done <- x.Run(context.Background()) }()

			f.submit(t, "crashes", "crash", "3")
			s := f.waitTerminal(t, "crashes")
			failure, _ := s.Failure()
			assert.Equal(t, contract.CodeRuntimeExited, failure.Code, "the task that killed its runtime fails as before")
			f.pool.Release("crashes")
			f.submit(t, "next", "ok")
			select {
			case err := <-done:
				require.ErrorIs(t, err, ErrRuntimeUnavailable)
				assert.Contains(t, err.Error(), "could not be started again")
			case <-time.After(15 * time.Second):
				t.Fatal("the executor did not stop")
			}
			s, _ = f.pool.Status("next")
			assert.Equal(t, actorpool.TaskQueued, s.Phase(), "refused unrun: queued for another executor, no retry spent")
			assert.Contains(t, f.out.String(), "stopping (its Python runtime could not be started again")
		})
	}
}
