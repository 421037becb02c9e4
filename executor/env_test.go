package executor

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flyteactors/flyteactors/actorpool/pooltest"
	"github.com/flyteactors/flyteactors/go/contract"
)

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

// TestRuntimeAndTasksNeverSeeTheToken: the pod's identity, token first, stays with
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

// envProtectHelper, when set, makes TestTasksCannotReadTheExecutorsMemory's binary play the executor:
// "protect" calls ProtectMemory first, "plain" does not; then it starts a child (its "task", as its
// own user) that tries to read the executor's memory, and prints what the child saw.
const envProtectHelper = "FLYTE_ACTORS_TEST_PROTECT_HELPER"

// TestTasksCannotReadTheExecutorsMemory: a task running as the executor's user cannot read the
// executor's memory, where the pod's token is, once the executor made itself non-dumpable; without
// that it could (the control). Run as an unprivileged user, as in a pod without CAP_SYS_PTRACE.
func TestTasksCannotReadTheExecutorsMemory(t *testing.T) {
	if mode := os.Getenv(envProtectHelper); mode != "" {
		playExecutor(mode)
		return
	}
	binary := os.Args[0]
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		// Root has CAP_SYS_PTRACE: run the executor and its task as nobody, from a copy nobody can run.
		dir, err := os.MkdirTemp("", "protect")
		require.NoError(t, err)
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
		require.NoError(t, os.Chmod(dir, 0o755))
		raw, err := os.ReadFile(os.Args[0])
		require.NoError(t, err)
		binary = filepath.Join(dir, "executor.test")
		require.NoError(t, os.WriteFile(binary, raw, 0o755))
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
	}
	for mode, want := range map[string]string{"plain": "read", "protect": "permission denied"} {
		cmd := exec.Command(binary, "-test.run=^TestTasksCannotReadTheExecutorsMemory$")
		cmd.Env = append(os.Environ(), envProtectHelper+"="+mode)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Contains(t, string(out), "task: "+want, mode)
	}
}

// playExecutor is the executor of TestTasksCannotReadTheExecutorsMemory.
func playExecutor(mode string) {
	if mode == "protect" {
		if err := ProtectMemory(); err != nil {
			fmt.Println("executor:", err)
			os.Exit(1)
		}
	}
	// Opening /proc/<pid>/mem is where the kernel checks whether the task may read the executor's memory;
	// its environ is guarded by the same check.
	task := exec.Command("/bin/sh", "-c", fmt.Sprintf("if ( exec 3</proc/%[1]d/mem ) 2>/dev/null && cat /proc/%[1]d/environ >/dev/null 2>&1; "+
		"then echo 'task: read'; else echo 'task: permission denied'; fi", os.Getpid()))
	out, _ := task.CombinedOutput()
	fmt.Print(string(out))
	os.Exit(0)
}
