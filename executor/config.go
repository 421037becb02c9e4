package executor

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Config is what an executor needs to know; cmd/actor-executor reads it from the pod's environment.
type Config struct {
	PoolAddress   string
	EnvironmentID string
	PodName       string
	// Token is the pod's token, which it presents in its Hello.
	Token          string
	Slots          int
	RuntimeCommand []string
	// RuntimeEnv is the runtimes' environment; default the executor's own without FLYTE_ACTOR_*, so
	// that neither a runtime nor a task sees the pod's token.
	RuntimeEnv []string
	// InjectedPython, if set, is the folder with the flyteactors package the executor brings (Install):
	// runtimes started as `python -m module` import it from there unless the task's image has its own,
	// which comes first (withInjectedPackage).
	InjectedPython string
	// Stdout and Stderr receive the tasks' output (the pod's log).
	Stdout, Stderr io.Writer
	// ReconnectDelay is how long to wait before reconnecting after a session ends. Default 500ms.
	ReconnectDelay time.Duration
	// WarmupTimeout is how long the runtimes may take to warm up. Default contract.DefaultWarmupTimeout.
	WarmupTimeout time.Duration
	// DrainTimeout is how long running tasks may finish once the executor is told to stop. Default
	// contract.DefaultDrainTimeout.
	DrainTimeout time.Duration
	// CA, if set, is the PEM certificate the pool's executor service must be signed by: the executor
	// speaks TLS and verifies the pool. Without it, it speaks plain gRPC.
	CA []byte
}

// Validate reports the first missing or bad setting.
func (c Config) Validate() error {
	switch {
	case c.PoolAddress == "":
		return errors.New("pool address is empty")
	case c.EnvironmentID == "":
		return errors.New("environment id is empty")
	case c.PodName == "":
		return errors.New("pod name is empty")
	case c.Token == "":
		return errors.New("token is empty")
	case c.Slots < 1:
		return fmt.Errorf("slots must be at least 1, got %d", c.Slots)
	case len(c.RuntimeCommand) == 0:
		return errors.New("runtime command is empty")
	}
	return nil
}

// withoutIdentity returns environ without the variables that give the executor its identity.
func withoutIdentity(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "FLYTE_ACTOR_") || strings.HasPrefix(kv, EnvPython+"=") {
			out = append(out, kv)
		}
	}
	return out
}
