package actorpool

import (
	"fmt"

	"k8s.io/apimachinery/pkg/types"
)

// Task is one attempt of an actor task, as the plugin submits it.
type Task struct {
	// ID is the attempt's unique generated name. It never names two attempts, so it is the key of
	// everything the pool keeps about the task.
	ID string
	// Name is the task's name (its template's), the same for all its attempts: the pool learns how long
	// each task of an environment runs.
	Name string
	// Environment is the environment that runs the task.
	Environment EnvironmentSpec
	// Command is the argv the task's pod would have run, already rendered.
	Command []string
	// Env is the environment the task's pod would have had, on top of the executor's own.
	Env []EnvVar
	// Owner is the workflow that owns the task; the pool wakes it whenever the task's status changes.
	Owner types.NamespacedName
}

// EnvVar is one environment variable of a task.
type EnvVar struct {
	Name  string
	Value string
}

// Validate reports the first thing that makes the task impossible to run.
func (t Task) Validate() error {
	if t.ID == "" {
		return fmt.Errorf("task id is empty")
	}
	if len(t.Command) == 0 {
		return fmt.Errorf("task %s: command is empty", t.ID)
	}
	if err := t.Environment.Validate(); err != nil {
		return fmt.Errorf("task %s: %w", t.ID, err)
	}
	return nil
}
