package plugin

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/structpb"
)

// malformedSpecs are task customs that must be refused, each with the error it must give: the
// field, and what is wrong with it.
var malformedSpecs = map[string]struct {
	custom map[string]any
	want   string
}{
	"empty custom":             {map[string]any{}, "task custom: missing"},
	"name is a number":         {map[string]any{"name": 3, "type": "actor", "spec": map[string]any{}}, "task custom: not an ExecutionEnv"},
	"type missing":             {map[string]any{"name": "e", "spec": map[string]any{}}, `execution env type: must be "actor", got ""`},
	"spec is a string":         {map[string]any{"name": "e", "type": "actor", "spec": "big"}, "task custom: not an ExecutionEnv"},
	"replicas negative":        {spec(map[string]any{"replica_count": -5}), "spec.replica_count: must be at least 1, got -5"},
	"replicas huge":            {spec(map[string]any{"replica_count": 2000000000}), "spec.replica_count: 2000000000 is more than this platform allows (plugins.actor.max-replicas = 100)"},
	"replicas beyond int32":    {spec(map[string]any{"replica_count": 1e12}), "spec.replica_count: must be a 32-bit integer"},
	"replicas NaN-ish string":  {spec(map[string]any{"replica_count": "NaN"}), "spec.replica_count: must be a 32-bit integer"},
	"replicas a list":          {spec(map[string]any{"replica_count": []any{1}}), "spec.replica_count: must be an integer"},
	"replicas a bool":          {spec(map[string]any{"replicaCount": true}), "spec.replica_count: must be an integer"},
	"replicas wrapper of junk": {spec(map[string]any{"replica_count": map[string]any{"value": "x"}}), `spec.replica_count: must be an integer, got "x"`},
	"parallelism negative":     {spec(map[string]any{"parallelism": -1}), "spec.parallelism: must be at least 0, got -1"},
	"parallelism huge":         {spec(map[string]any{"parallelism": 1000000}), "spec.parallelism: 1000000 is more than this platform allows (plugins.actor.max-parallelism = 64)"},
	"parallelism fractional":   {spec(map[string]any{"parallelism": 0.5}), "spec.parallelism: must be a 32-bit integer, got 0.5"},
	"ttl negative":             {spec(map[string]any{"ttl_seconds": -30}), "spec.ttl_seconds: must be at least 0, got -30"},
	"ttl of years":             {spec(map[string]any{"ttl_seconds": 100000000}), "spec.ttl_seconds: 100000000 is more than this platform allows (plugins.actor.max-ttl = 24h0m0s)"},
	"ttl a word":               {spec(map[string]any{"ttlSeconds": "forever"}), `spec.ttl_seconds: must be an integer, got "forever"`},
	"backlog negative":         {spec(map[string]any{"backlog_length": -1}), "spec.backlog_length: must be at least 0, got -1"},
	"min replicas negative":    {spec(map[string]any{"min_replica_count": -1}), "spec.min_replica_count: must be at least 0, got -1"},
	"min above replicas":       {spec(map[string]any{"replica_count": 2, "minReplicaCount": 3}), "spec.min_replica_count: 3 is more than replica_count 2"},
	"scaledown ttl negative":   {spec(map[string]any{"scaledown_ttl_seconds": -1}), "spec.scaledown_ttl_seconds: must be at least 0, got -1"},
	"image a list":             {spec(map[string]any{"container_image": []any{"a"}}), "spec.container_image: must be a string"},
	"primary container number": {spec(map[string]any{"primary_container_name": 7}), "spec.primary_container_name: must be a string"},
	"pod template not base64":  {spec(map[string]any{"pod_template_spec": "not base64!"}), "spec.pod_template_spec: must be base64"},
	"pod template not JSON":    {spec(map[string]any{"pod_template_spec": base64.StdEncoding.EncodeToString([]byte("{{"))}), "spec.pod_template_spec: must be a Kubernetes PodTemplateSpec in JSON"},
	"pod template wrong shape": {spec(map[string]any{"pod_template_spec": base64.StdEncoding.EncodeToString([]byte(`{"spec": 5}`))}), "spec.pod_template_spec: must be a Kubernetes PodTemplateSpec in JSON"},
	"extant reference":         {map[string]any{"name": "e", "type": "actor", "extant": map[string]any{"id": "x"}}, "execution env extant: references to existing environments are not supported"},
	"no spec at all":           {map[string]any{"name": "e", "type": "actor", "version": "v"}, "execution env spec: missing"},
	"type of another plugin":   {map[string]any{"name": "e", "type": "ray", "spec": map[string]any{}}, `execution env type: must be "actor", got "ray"`},
	"replicas max float64":     {spec(map[string]any{"replica_count": math.MaxFloat64}), "spec.replica_count: must be a 32-bit integer"},
}

func spec(fields map[string]any) map[string]any {
	return map[string]any{"name": "e", "type": "actor", "version": "v", "spec": fields}
}

// TestMalformedTaskSpecsAreRefusedClearly: at least 30 malformed specs, each with its clear error.
func TestMalformedTaskSpecsAreRefusedClearly(t *testing.T) {
	require.GreaterOrEqual(t, len(malformedSpecs), 30)
	for name, tc := range malformedSpecs {
		t.Run(name, func(t *testing.T) {
			err := parseAndCheck(t, tc.custom)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func parseAndCheck(t *testing.T, custom map[string]any) error {
	var s *structpb.Struct
	if len(custom) > 0 {
		var err error
		s, err = structpb.NewStruct(custom)
		require.NoError(t, err)
	}
	env, err := parseEnvironment(s)
	if err != nil {
		return err
	}
	return checkLimits(env, &defaultConfig)
}

// FuzzParseEnvironment: whatever a task's custom holds, parsing neither panics nor
// accepts a spec the pool cannot run.
func FuzzParseEnvironment(f *testing.F) {
	for _, tc := range malformedSpecs {
		raw, _ := json.Marshal(tc.custom)
		f.Add(raw)
	}
	for _, good := range []string{
		`{"name":"my-actor","type":"actor","version":"4a3f0c9be31f2a7","spec":{"container_image":"cr.union.ai/union/unionai:py3.11-latest","backlog_length":null,"parallelism":1,"replica_count":1,"ttl_seconds":30}}`,
		`{"name":"my-actor","type":"actor","version":"v","spec":{"replicaCount":"3","ttlSeconds":{"value":60}}}`,
	} {
		f.Add([]byte(good))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var custom map[string]any
		if json.Unmarshal(raw, &custom) != nil {
			return
		}
		s, err := structpb.NewStruct(custom)
		if err != nil {
			return
		}
		env, err := parseEnvironment(s)
		if err != nil {
			return
		}
		if env.Name == "" || env.Spec.ReplicaCount < 1 || env.Spec.Parallelism < 1 ||
			(env.Spec.TTLSeconds != nil && *env.Spec.TTLSeconds < 0) {
			t.Fatalf("accepted a spec the pool cannot run: %+v from %s", env, raw)
		}
	})
}
