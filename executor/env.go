package executor

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/flyteactors/flyteactors/go/contract"
)

// EnvPython names the Python interpreter of the runtime (default python3). The pool does not set it;
// an image or pod template may.
const EnvPython = "FLYTE_ACTOR_PYTHON"

// envTokenFD names the file descriptor the token is handed over on after HideToken re-executed the
// executor.
const envTokenFD = "FLYTE_ACTOR_TOKEN_FD"

// ConfigFromEnv builds a Config from the variables the pool sets on executor pods (package contract)
// and EnvPython, read through getenv (os.Getenv in the pod); the token comes from contract.EnvToken,
// or from the descriptor HideToken passed it on. Slots defaults to 1 and the runtime's interpreter to
// python3.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	slots := 1
	if s := getenv(contract.EnvSlots); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return Config{}, fmt.Errorf("%s=%q is not a number", contract.EnvSlots, s)
		}
		slots = n
	}
	python := getenv(EnvPython)
	if python == "" {
		python = "python3"
	}
	token := getenv(contract.EnvToken)
	if fd := getenv(envTokenFD); token == "" && fd != "" {
		var err error
		if token, err = readTokenFD(fd); err != nil {
			return Config{}, err
		}
	}
	warmup, err := durationFromEnv(getenv, contract.EnvWarmupTimeout)
	if err != nil {
		return Config{}, err
	}
	drain, err := durationFromEnv(getenv, contract.EnvDrainTimeout)
	if err != nil {
		return Config{}, err
	}
	var ca []byte
	if pem := getenv(contract.EnvCA); pem != "" {
		ca = []byte(pem)
	}
	cfg := Config{
		CA:             ca,
		WarmupTimeout:  warmup,
		DrainTimeout:   drain,
		PoolAddress:    getenv(contract.EnvPoolAddress),
		EnvironmentID:  getenv(contract.EnvEnvironmentID),
		PodName:        getenv(contract.EnvPodName),
		Token:          token,
		Slots:          slots,
		RuntimeCommand: []string{python, "-m", "flyteactors.runtime"},
		InjectedPython: injectedPython(),
	}
	return cfg, cfg.Validate()
}

// injectedPython returns the folder of the flyteactors package installed beside the running executor,
// or "" if there is none (an executor the task's image holds itself).
func injectedPython() string {
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	dir := filepath.Join(filepath.Dir(self), InstalledPython)
	if _, err := os.Stat(filepath.Join(dir, "flyteactors", "__init__.py")); err != nil {
		return ""
	}
	return dir
}

// withInjectedPackage returns command, a runtime started as `python -m module args...`, made to import
// the flyteactors package in dir only when the image has none of its own: dir goes on the runtime's
// sys.path only if flyteactors cannot be found without it (installed, editable, or on the image's
// PYTHONPATH), and then last. (On PYTHONPATH it would come before the installed packages, and the
// executor's package would shadow the image's.) Another command is returned as it is.
func withInjectedPackage(command []string, dir string) []string {
	if len(command) < 3 || command[1] != "-m" {
		return command
	}
	return append([]string{command[0], "-c", injectedBootstrap, dir}, command[2:]...)
}

// injectedBootstrap runs `python -c injectedBootstrap dir module args...` as `python -m module args...`
// does, with dir last on sys.path if flyteactors is not found without it, or only as a folder without
// __init__.py (a namespace package, which any package found later on the path wins over). As -m does,
// it puts the starting folder, not "" (the current one at each import), first on sys.path.
const injectedBootstrap = `import importlib.util, os, runpy, sys
if sys.path and sys.path[0] == "":
    sys.path[0] = os.getcwd()
folder = sys.argv.pop(1)
spec = importlib.util.find_spec("flyteactors")
if spec is None or spec.origin is None:
    sys.path.append(folder)
runpy.run_module(sys.argv.pop(1), run_name="__main__", alter_sys=True)
`

// durationFromEnv reads the Go duration in variable name; 0 when it is unset.
func durationFromEnv(getenv func(string) string, name string) (time.Duration, error) {
	s := getenv(name)
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s=%q is not a duration", name, s)
	}
	return d, nil
}

func readTokenFD(fd string) (string, error) {
	n, err := strconv.Atoi(fd)
	if err != nil {
		return "", fmt.Errorf("%s=%q is not a file descriptor", envTokenFD, fd)
	}
	f := os.NewFile(uintptr(n), "token")
	defer func() { _ = f.Close() }()
	token, err := io.ReadAll(f)
	if err != nil {
		return "", fmt.Errorf("read the token from descriptor %d: %w", n, err)
	}
	return string(token), nil
}

// HideToken takes the pod's token out of the executor's environment: it re-executes the executor with
// the token handed over on a pipe instead of in contract.EnvToken. A process's initial environment
// stays readable in /proc/<pid>/environ to anything running as the same user, a task included; after
// the exec it no longer holds the token. It returns only on error, or at once when there is no token
// in the environment (the re-executed executor, or one started by hand).
func HideToken() error {
	token := os.Getenv(contract.EnvToken)
	if token == "" {
		return nil
	}
	var fds [2]int
	if err := syscall.Pipe(fds[:]); err != nil { // no O_CLOEXEC: the read end survives the exec
		return fmt.Errorf("hide token: %w", err)
	}
	if _, err := syscall.Write(fds[1], []byte(token)); err != nil {
		return fmt.Errorf("hide token: %w", err)
	}
	_ = syscall.Close(fds[1])
	env := make([]string, 0, len(os.Environ()))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, contract.EnvToken+"=") {
			env = append(env, kv)
		}
	}
	env = append(env, fmt.Sprintf("%s=%d", envTokenFD, fds[0]))
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("hide token: %w", err)
	}
	return syscall.Exec(self, os.Args, env)
}

// prSetDumpable is prctl's PR_SET_DUMPABLE (linux/prctl.h).
const prSetDumpable = 4

// ProtectMemory makes the executor's process non-dumpable: its memory (/proc/<pid>/mem), its
// environment and its other /proc files can then be read, and the process traced, only with
// CAP_SYS_PTRACE, which the runtimes and tasks it starts do not have unless the pod adds it. Without it,
// a task running as the executor's user could read the pod's token out of the executor's memory. The
// flag is the kernel's, per process, and not inherited across exec: the runtimes stay ordinary
// processes. Call it before reading the token.
func ProtectMemory() error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetDumpable, 0, 0); errno != 0 {
		return fmt.Errorf("make the executor's memory unreadable to its tasks: %w", errno)
	}
	return nil
}
