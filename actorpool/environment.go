package actorpool

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// EnvironmentKey is the identity of an environment. Two tasks share executors exactly when their keys
// are equal. PodHash covers everything that shapes the executor pod (image, resources, env, secrets,
// service account, pod template, interruptible), so two definitions that differ in any of these never
// share a pool, even under the same name and version.
type EnvironmentKey struct {
	Namespace string
	Project   string
	Domain    string
	Name      string
	Version   string
	PodHash   string
}

// String returns the key in a readable form.
func (k EnvironmentKey) String() string {
	return strings.Join([]string{k.Namespace, k.Project, k.Domain, k.Name, k.Version, k.PodHash}, "/")
}

// ID returns a short, stable identifier of the key that is a valid Kubernetes label value and name
// segment: the same key always gives the same ID, on every pool.
func (k EnvironmentKey) ID() string {
	sum := sha256.Sum256([]byte(k.String()))
	return hex.EncodeToString(sum[:10])
}

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
