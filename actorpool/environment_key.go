package actorpool

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
)

// EnvironmentKey is the identity of an environment. Two tasks share executors exactly when their keys
// are equal. PodHash covers everything that shapes the executor pod (image, resources, env, secrets,
// service account, pod template, interruptible), so two definitions that differ in any of these never
// share a pool, even under the same name and version.
type EnvironmentKey struct {
	Namespace string `json:"namespace"`
	Project   string `json:"project"`
	Domain    string `json:"domain"`
	Name      string `json:"name"`
	Version   string `json:"version"`
	PodHash   string `json:"podHash"`
	// Shard is the shard of FlytePropeller whose pool runs the environment; empty when unsharded.
	Shard string `json:"shard,omitempty"`
}

// String returns the key in a readable form, for people: fields may contain "/", so two keys can
// read alike. ID tells keys apart.
func (k EnvironmentKey) String() string {
	fields := []string{k.Namespace, k.Project, k.Domain, k.Name, k.Version, k.PodHash}
	if k.Shard != "" {
		fields = append(fields, k.Shard)
	}
	return strings.Join(fields, "/")
}

// SameDefinition reports whether k and o are the same environment definition, whatever their pod hash:
// the same namespace, project, domain, name and version, in the same shard.
func (k EnvironmentKey) SameDefinition(o EnvironmentKey) bool {
	k.PodHash, o.PodHash = "", ""
	return k == o
}

// ID returns a short, stable identifier of the key that is a valid Kubernetes label value and name
// segment: the same key always gives the same ID, on every pool, and different keys different IDs.
func (k EnvironmentKey) ID() string {
	// A JSON array keeps field boundaries, so no two keys encode alike (a "/"-joined string did not).
	// Unsharded keys hash as they always did, so an upgrade keeps their environments.
	fields := []string{k.Namespace, k.Project, k.Domain, k.Name, k.Version, k.PodHash}
	if k.Shard != "" {
		fields = append(fields, k.Shard)
	}
	canonical, _ := json.Marshal(fields)
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:10])
}
