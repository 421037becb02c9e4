package plugin

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"

	propellerconfig "github.com/flyteorg/flyte/flytepropeller/pkg/controller/config"
)

// shardPlaceholder, in plugins.actor.advertise-address and endpoint.service, stands for "-<shard>" in a
// shard of FlytePropeller and for nothing otherwise, so that one configuration serves every shard.
const shardPlaceholder = "{shard}"

// shardOf returns the shard of FlytePropeller this process is, from the workflows its configuration
// selects (propeller.include- and exclude-shard-key-label, -project-label, -domain-label, which
// flyte-core's propeller manager sets per shard): "" when it selects every workflow. Processes that
// select alike get the same shard, others different ones. The shard is part of every environment key the
// pool makes, so two shards that run one environment definition run it on separate executor pods and
// never share an attempt; it labels the environment's objects, so a shard finds only its own after a
// restart; and it names the Service the shard's executors dial and the shard's TLS secret.
func shardOf(cfg *propellerconfig.Config) string {
	selection := [][]string{cfg.IncludeShardKeyLabel, cfg.ExcludeShardKeyLabel, cfg.IncludeProjectLabel,
		cfg.ExcludeProjectLabel, cfg.IncludeDomainLabel, cfg.ExcludeDomainLabel}
	sharded := false
	for i, values := range selection {
		selection[i] = slices.Sorted(slices.Values(values))
		sharded = sharded || len(values) > 0
	}
	if !sharded {
		return ""
	}
	canonical, _ := json.Marshal(selection)
	sum := sha256.Sum256(canonical)
	return "shard-" + hex.EncodeToString(sum[:5])
}

// withShard returns s with shardPlaceholder replaced for shard.
func withShard(s, shard string) string {
	if shard == "" {
		return strings.ReplaceAll(s, shardPlaceholder, "")
	}
	return strings.ReplaceAll(s, shardPlaceholder, "-"+shard)
}
