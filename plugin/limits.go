package plugin

import (
	"fmt"
	"time"
)

// checkLimits holds an environment to the platform's limits (plugins.actor.max-*), so that a spec can
// never ask for more pods, slots or lifetime than the platform engineer allows. Its errors name the
// field, the value and the limit.
func checkLimits(env actorEnvironment, cfg *Config) error {
	spec := env.Spec
	if spec.ReplicaCount > cfg.MaxReplicas {
		return fmt.Errorf("execution env spec.replica_count: %d is more than this platform allows (plugins.actor.max-replicas = %d)",
			spec.ReplicaCount, cfg.MaxReplicas)
	}
	if spec.Parallelism > cfg.MaxParallelism {
		return fmt.Errorf("execution env spec.parallelism: %d is more than this platform allows (plugins.actor.max-parallelism = %d)",
			spec.Parallelism, cfg.MaxParallelism)
	}
	if spec.TTLSeconds != nil {
		if ttl := time.Duration(*spec.TTLSeconds) * time.Second; ttl > cfg.MaxTTL.Duration {
			return fmt.Errorf("execution env spec.ttl_seconds: %d is more than this platform allows (plugins.actor.max-ttl = %s)",
				*spec.TTLSeconds, cfg.MaxTTL.Duration)
		}
	}
	return nil
}
