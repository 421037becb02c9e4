package actorpool

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// EnvironmentSpec is everything the pool needs to run an environment.
type EnvironmentSpec struct {
	Key EnvironmentKey
	// Replicas is how many executor pods run while the environment has work.
	Replicas int
	// Slots is how many tasks one executor runs at once.
	Slots int
	// TTL is how long the environment stays up with nothing queued or running.
	TTL time.Duration
	// Pod is the executor pod to create, complete but for its name and the executor's identity, which
	// the Cluster adds. Its namespace is Key.Namespace.
	Pod *corev1.Pod
	// PrimaryContainer names the container of Pod that runs the executor.
	PrimaryContainer string
}

// Validate reports the first thing that makes the spec impossible to run.
func (s EnvironmentSpec) Validate() error {
	switch {
	case s.Key.Namespace == "":
		return fmt.Errorf("environment %q: namespace is empty", s.Key.Name)
	case s.Key.Name == "":
		return fmt.Errorf("environment name is empty")
	case s.Replicas < 1:
		return fmt.Errorf("environment %q: replicas must be at least 1, got %d", s.Key.Name, s.Replicas)
	case s.Slots < 1:
		return fmt.Errorf("environment %q: slots must be at least 1, got %d", s.Key.Name, s.Slots)
	case s.TTL < 0:
		return fmt.Errorf("environment %q: ttl must not be negative, got %s", s.Key.Name, s.TTL)
	case s.Pod == nil:
		return fmt.Errorf("environment %q: executor pod is missing", s.Key.Name)
	case s.PrimaryContainer == "":
		return fmt.Errorf("environment %q: primary container name is empty", s.Key.Name)
	}
	return nil
}
