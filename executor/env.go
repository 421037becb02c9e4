package executor

import (
	"fmt"
	"strconv"
)

// Environment variables that configure an executor. The pool's Kubernetes side sets them on every
// executor pod; ConfigFromEnv reads them.
const (
	EnvPoolAddress   = "FLYTE_ACTOR_POOL_ADDRESS"
	EnvEnvironmentID = "FLYTE_ACTOR_ENVIRONMENT_ID"
	EnvPodName       = "FLYTE_ACTOR_POD_NAME"
	EnvToken         = "FLYTE_ACTOR_TOKEN"
	EnvSlots         = "FLYTE_ACTOR_SLOTS"
	EnvPython        = "FLYTE_ACTOR_PYTHON"
)

// ConfigFromEnv builds a Config from the environment variables above, read through getenv
// (os.Getenv in the pod). Slots defaults to 1 and the runtime's interpreter to python3.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	slots := 1
	if s := getenv(EnvSlots); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return Config{}, fmt.Errorf("%s=%q is not a number", EnvSlots, s)
		}
		slots = n
	}
	python := getenv(EnvPython)
	if python == "" {
		python = "python3"
	}
	cfg := Config{
		PoolAddress:    getenv(EnvPoolAddress),
		EnvironmentID:  getenv(EnvEnvironmentID),
		PodName:        getenv(EnvPodName),
		Token:          getenv(EnvToken),
		Slots:          slots,
		RuntimeCommand: []string{python, "-m", "flyteactors.runtime"},
	}
	return cfg, cfg.Validate()
}
