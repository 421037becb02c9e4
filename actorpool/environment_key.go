package actorpool

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
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
