package actorpool

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// EnvironmentSpec is everything the pool needs to run an environment.
type EnvironmentSpec struct {
	Key EnvironmentKey
	// Replicas is the most executor pods the environment runs; MinReplicas the fewest while it lives.
	// Equal, the environment has a fixed size; apart, it grows with its work and removes idle executors
	// after ScaledownTTL (see decideScale).
	Replicas, MinReplicas int
	// Backlog is how many queued tasks one executor may have waiting on its account before the
	// environment grows.
	Backlog int
	// ScaledownTTL is how long an executor of a growing environment stays idle before it is removed; 0:
	// idle executors stay until the environment goes whole.
	ScaledownTTL time.Duration
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
	case s.MinReplicas < 0 || s.MinReplicas > s.Replicas:
		return fmt.Errorf("environment %q: min replicas must be from 0 to replicas (%d), got %d", s.Key.Name, s.Replicas, s.MinReplicas)
	case s.Backlog < 0:
		return fmt.Errorf("environment %q: backlog must not be negative, got %d", s.Key.Name, s.Backlog)
	case s.ScaledownTTL < 0:
		return fmt.Errorf("environment %q: scale-down ttl must not be negative, got %s", s.Key.Name, s.ScaledownTTL)
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
