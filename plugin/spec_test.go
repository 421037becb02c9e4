package plugin

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/structpb"
)

func mustStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	require.NoError(t, err)
	return s
}

func TestParseEnvironmentAcceptsBothFieldNamings(t *testing.T) {
	pts := base64.StdEncoding.EncodeToString([]byte(`{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"primary"}]}}`))
	for name, spec := range map[string]map[string]any{
		"snake_case": {"replica_count": 3, "ttl_seconds": 30, "parallelism": 2, "backlog_length": 5,
			"container_image": "img:1", "primary_container_name": "primary", "pod_template_spec": pts,
			"min_replica_count": 1, "scaledown_ttl_seconds": map[string]any{"value": 10}},
		"lowerCamelCase": {"replicaCount": "3", "ttlSeconds": 30, "parallelism": 2, "backlogLength": 5,
			"containerImage": "img:1", "primaryContainerName": "primary", "podTemplateSpec": pts,
			"minReplicaCount": 1, "scaledownTtlSeconds": 10},
	} {
		t.Run(name, func(t *testing.T) {
			env, err := parseEnvironment(mustStruct(t, map[string]any{
				"name": "my-actor", "type": "actor", "version": "abc", "spec": spec,
			}))
			require.NoError(t, err)
			assert.Equal(t, "my-actor", env.Name)
			assert.Equal(t, "abc", env.Version)
			assert.Equal(t, 3, env.Spec.ReplicaCount)
			assert.Equal(t, 2, env.Spec.Parallelism)
			assert.Equal(t, 5, env.Spec.BacklogLength)
			require.NotNil(t, env.Spec.TTLSeconds)
			assert.Equal(t, 30, *env.Spec.TTLSeconds)
			require.NotNil(t, env.Spec.MinReplicaCount)
			assert.Equal(t, 1, *env.Spec.MinReplicaCount)
			require.NotNil(t, env.Spec.ScaledownTTLSeconds)
			assert.Equal(t, 10, *env.Spec.ScaledownTTLSeconds)
			assert.Equal(t, "img:1", env.Spec.ContainerImage)
			require.NotNil(t, env.Spec.PodTemplateSpec)
			assert.Equal(t, "b", env.Spec.PodTemplateSpec.Labels["a"])
		})
	}
}

func TestParseEnvironmentDefaults(t *testing.T) {
	env, err := parseEnvironment(mustStruct(t, map[string]any{"name": "e", "type": "actor", "spec": map[string]any{}}))
	require.NoError(t, err)
	assert.Equal(t, 1, env.Spec.ReplicaCount)
	assert.Equal(t, 1, env.Spec.Parallelism, "absent parallelism means one task at a time")
	assert.Nil(t, env.Spec.TTLSeconds, "absent ttl: the plugin's default applies")

	env, err = parseEnvironment(mustStruct(t, map[string]any{"name": "e", "type": "actor", "spec": map[string]any{"parallelism": 0}}))
	require.NoError(t, err)
	assert.Equal(t, 1, env.Spec.Parallelism, "parallelism 0 means 1")
}

func TestParseEnvironmentRejectsBadInputNamingTheField(t *testing.T) {
	for name, tc := range map[string]struct {
		custom map[string]any
		want   string
	}{
		"no custom":        {nil, "task custom: missing"},
		"no name":          {map[string]any{"type": "actor", "spec": map[string]any{}}, "execution env name: must not be empty"},
		"wrong type":       {map[string]any{"name": "e", "type": "ray", "spec": map[string]any{}}, `execution env type: must be "actor", got "ray"`},
		"extant":           {map[string]any{"name": "e", "type": "actor", "extant": map[string]any{}}, "execution env extant: references to existing environments are not supported"},
		"no spec":          {map[string]any{"name": "e", "type": "actor"}, "execution env spec: missing"},
		"zero replicas":    {map[string]any{"name": "e", "type": "actor", "spec": map[string]any{"replica_count": 0}}, "spec.replica_count: must be at least 1, got 0"},
		"fractional":       {map[string]any{"name": "e", "type": "actor", "spec": map[string]any{"replica_count": 1.5}}, "spec.replica_count: must be a 32-bit integer, got 1.5"},
		"string replicas":  {map[string]any{"name": "e", "type": "actor", "spec": map[string]any{"replicaCount": "many"}}, `spec.replica_count: must be an integer, got "many"`},
		"negative ttl":     {map[string]any{"name": "e", "type": "actor", "spec": map[string]any{"ttl_seconds": -1}}, "spec.ttl_seconds: must be at least 0, got -1"},
		"image not string": {map[string]any{"name": "e", "type": "actor", "spec": map[string]any{"container_image": 3}}, "spec.container_image: must be a string"},
		"bad base64":       {map[string]any{"name": "e", "type": "actor", "spec": map[string]any{"pod_template_spec": "%%%"}}, "spec.pod_template_spec: must be base64"},
		"not a pod":        {map[string]any{"name": "e", "type": "actor", "spec": map[string]any{"pod_template_spec": base64.StdEncoding.EncodeToString([]byte("[1]"))}}, "spec.pod_template_spec: must be a Kubernetes PodTemplateSpec in JSON"},
		"min above max":    {map[string]any{"name": "e", "type": "actor", "spec": map[string]any{"replica_count": 1, "min_replica_count": 2}}, "spec.min_replica_count: 2 is more than replica_count 1"},
	} {
		t.Run(name, func(t *testing.T) {
			var custom *structpb.Struct
			if tc.custom != nil {
				custom = mustStruct(t, tc.custom)
			}
			_, err := parseEnvironment(custom)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
