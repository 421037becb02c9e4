package executor

import (
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
