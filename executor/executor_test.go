package executor

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
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
	"github.com/flyteactors/flyteactors/go/servercert"
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

func TestExecutorStopsCancelledTask(t *testing.T) {
	f := newFixture(t, 1)
	f.submit(t, "slow", "sleep", "30")
	f.submit(t, "next", "ok")
	runExecutor(t, f.executor(t, pooltest.Token(f.spec.Key, "pod-1"), 1))
	require.Eventually(t, func() bool {
		s, _ := f.pool.Status("slow")
		return s.Phase() == actorpool.TaskRunning
	}, 20*time.Second, 10*time.Millisecond)

	start := time.Now()
	f.pool.Release("slow")
	assert.Equal(t, actorpool.TaskSucceeded, f.waitTerminal(t, "next").Phase())
	assert.Less(t, time.Since(start), 15*time.Second, "the slot was freed by the cancel, not by the sleep ending")
}

func TestExecutorRunsSlotsInParallel(t *testing.T) {
	f := newFixture(t, 2)
	f.submit(t, "x", "sleep", "1")
	f.submit(t, "y", "sleep", "1")
	runExecutor(t, f.executor(t, pooltest.Token(f.spec.Key, "pod-1"), 2))
	x, y := f.waitTerminal(t, "x"), f.waitTerminal(t, "y")
	assert.Equal(t, actorpool.TaskSucceeded, x.Phase())
	assert.Equal(t, actorpool.TaskSucceeded, y.Phase())
	assert.True(t, x.StartedAt.Before(y.FinishedAt) && y.StartedAt.Before(x.FinishedAt), "the two tasks overlapped")
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

func TestConfigFromEnvNamesWhatIsMissing(t *testing.T) {
	env := map[string]string{contract.EnvPoolAddress: "pool:1", contract.EnvEnvironmentID: "e", contract.EnvPodName: "p", contract.EnvToken: "t"}
	cfg, err := ConfigFromEnv(func(k string) string { return env[k] })
	require.NoError(t, err)
	assert.Equal(t, 1, cfg.Slots)
	assert.Equal(t, []string{"python3", "-m", "flyteactors.runtime"}, cfg.RuntimeCommand)

	env[contract.EnvSlots] = "two"
	_, err = ConfigFromEnv(func(k string) string { return env[k] })
	assert.ErrorContains(t, err, `FLYTE_ACTOR_SLOTS="two" is not a number`)
	delete(env, contract.EnvSlots)
	delete(env, contract.EnvToken)
	_, err = ConfigFromEnv(func(k string) string { return env[k] })
	assert.ErrorContains(t, err, "token is empty")
}

// TestRuntimeAndTasksNeverSeeTheToken (issue 7, item 10): the pod's identity, token first, stays with
// the bridge.
func TestRuntimeAndTasksNeverSeeTheToken(t *testing.T) {
	t.Setenv(contract.EnvToken, "the-token")
	t.Setenv(contract.EnvPodName, "pod-1")
	t.Setenv(EnvPython, "python3")
	f := newFixture(t, 1)
	f.submit(t, "look", "envcheck")
	runExecutor(t, f.executor(t, pooltest.Token(f.spec.Key, "pod-1"), 1))
	s := f.waitTerminal(t, "look")
	failure, _ := s.Failure()
	assert.Equal(t, "FLYTE_ACTOR_PYTHON", failure.Message, "only the interpreter's name, never the identity")
}

func TestConfigFromEnvReadsTheTokenHandedOver(t *testing.T) {
	// Raw descriptors, as HideToken hands them over: ConfigFromEnv takes the read end and closes it. An
	// *os.File here would close that number a second time when collected, by then perhaps another
	// test's listening socket (which is how this test once broke TestExecutorVerifiesThePool).
	var fds [2]int
	require.NoError(t, syscall.Pipe2(fds[:], syscall.O_CLOEXEC)) // no process started meanwhile inherits them
	_, err := syscall.Write(fds[1], []byte("handed-over"))
	require.NoError(t, err)
	require.NoError(t, syscall.Close(fds[1]))
	env := map[string]string{contract.EnvPoolAddress: "pool:1", contract.EnvEnvironmentID: "e", contract.EnvPodName: "p",
		envTokenFD: strconv.Itoa(fds[0])}
	cfg, err := ConfigFromEnv(func(k string) string { return env[k] })
	require.NoError(t, err)
	assert.Equal(t, "handed-over", cfg.Token)
}

// TestRuntimeThatCannotStartEndsTheExecutor (issue 9): no flytekit, an import that fails, or a warm-up
// that never ends: the executor stops with ErrRuntimeCannotStart (its own exit code) and the
// runtime's own words before it.
func TestRuntimeThatCannotStartEndsTheExecutor(t *testing.T) {
	for name, tc := range map[string]struct {
		command []string
		says    string
	}{
		"import fails":    {[]string{"python3", "-c", "import no_such_module_anywhere"}, "No module named 'no_such_module_anywhere'"},
		"never gets warm": {[]string{"sleep", "60"}, "not warm after 300ms"},
	} {
		t.Run(name, func(t *testing.T) {
			out := &syncBuffer{}
			x, err := New(Config{PoolAddress: "127.0.0.1:1", EnvironmentID: "e", PodName: "p", Token: "t", Slots: 2,
				RuntimeCommand: tc.command, Stdout: out, Stderr: out, WarmupTimeout: 300 * time.Millisecond})
			require.NoError(t, err)
			start := time.Now()
			err = x.Run(context.Background())
			require.ErrorIs(t, err, ErrRuntimeCannotStart)
			assert.Less(t, time.Since(start), 10*time.Second)
			assert.Contains(t, err.Error()+out.String(), tc.says)
		})
	}
}

func TestInstallCopiesTheExecutor(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "flyte-actor")
	require.NoError(t, Install(dir))
	self, err := os.Executable()
	require.NoError(t, err)
	want, err := os.Stat(self)
	require.NoError(t, err)
	got, err := os.Stat(filepath.Join(dir, "actor-executor"))
	require.NoError(t, err)
	assert.Equal(t, want.Size(), got.Size())
	assert.NotZero(t, got.Mode()&0o111, "executable")
}

// TestStoppingExecutorFinishesItsTasksAndTakesNoNewOnes (issue 10, item 2): on SIGTERM the executor
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

// TestStoppingExecutorReportsUnfinishedTasksLost (issue 10, item 2): what cannot finish within the
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

// TestExecutorVerifiesThePool (issue 10, item 5): over TLS, an executor trusts only its installation's
// CA: a pool with another certificate gets nothing from it.
func TestExecutorVerifiesThePool(t *testing.T) {
	bundle, err := servercert.New("127.0.0.1", time.Now())
	require.NoError(t, err)
	serverTLS, err := bundle.ServerTLS()
	require.NoError(t, err)
	f := newFixtureTLS(t, 1, serverTLS)
	f.submit(t, "a", "ok")

	impostor, err := servercert.New("127.0.0.1", time.Now())
	require.NoError(t, err)
	wrong := f.executor(t, pooltest.Token(f.spec.Key, "pod-1"), 1)
	wrong.cfg.CA = impostor.CACert
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	require.NoError(t, wrong.Run(ctx))
	s, _ := f.pool.Status("a")
	assert.Equal(t, actorpool.TaskQueued, s.Phase(), "an executor that does not trust the pool's certificate never attached")
	assert.Contains(t, f.out.String(), "authentication handshake failed")

	right := f.executor(t, pooltest.Token(f.spec.Key, "pod-1"), 1)
	right.cfg.CA = bundle.CACert
	runExecutor(t, right)
	assert.Equal(t, actorpool.TaskSucceeded, f.waitTerminal(t, "a").Phase(), "over TLS")
}
