package executor

import (
	"fmt"
	"strconv"

	"github.com/flyteactors/flyteactors/go/contract"
)

// EnvPython names the Python interpreter of the runtime (default python3). The pool does not set it;
// an image or pod template may.
const EnvPython = "FLYTE_ACTOR_PYTHON"

// ConfigFromEnv builds a Config from the variables the pool sets on executor pods (package contract)
// and EnvPython, read through getenv (os.Getenv in the pod). Slots defaults to 1 and the runtime's
// interpreter to python3.
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
	cfg := Config{
		PoolAddress:    getenv(contract.EnvPoolAddress),
		EnvironmentID:  getenv(contract.EnvEnvironmentID),
		PodName:        getenv(contract.EnvPodName),
		Token:          getenv(contract.EnvToken),
		Slots:          slots,
		RuntimeCommand: []string{python, "-m", "flyteactors.runtime"},
	}
	return cfg, cfg.Validate()
}
