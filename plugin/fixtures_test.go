package plugin

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	corev1 "k8s.io/api/core/v1"

	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	"github.com/flyteorg/flyte/flyteplugins/tests"

	"github.com/flyteactors/flyteactors/actorpool"
)

// The fixtures are the task templates of the seed's four examples as Union's real SDK (union 0.1.204,
// flytekit 1.16.31) serializes them (testdata/union) and as flyteactors does (testdata/flyteactors), written
// by scripts/union_fixtures.sh.

func envVar(name, value string) corev1.EnvVar { return corev1.EnvVar{Name: name, Value: value} }

// readFixture reads one task template fixture.
func readFixture(t *testing.T, path string) *idlcore.TaskTemplate {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var tmpl idlcore.TaskTemplate
	require.NoError(t, protojson.Unmarshal(raw, &tmpl), path)
	return &tmpl
}

// unionFixtures returns the fixture file names of Union's SDK; there is one for each task of the seed.
func unionFixtures(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "union", "*.json"))
	require.NoError(t, err)
	require.Len(t, paths, 6, "the seed's four examples have six actor tasks")
	names := make([]string, 0, len(paths))
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	return names
}

// executorEnvironment runs tmpl through the plugin until it succeeds and returns the environment the
// plugin asked the pool for, executor pod included.
func executorEnvironment(t *testing.T, tmpl *idlcore.TaskTemplate) actorpool.EnvironmentSpec {
	t.Helper()
	h := newHarness(t, func(actorpool.Assignment) *actorpool.Failure { return nil })
	phase := tests.RunPluginEndToEndTest(t, h.plugin, tmpl, &idlcore.LiteralMap{}, nil, nil, h.connectOnFirstSubmit(t))
	require.True(t, phase.Phase().IsSuccess(), "phase %s: %v", phase.Phase(), phase.Err())
	specs := h.cluster.Specs()
	require.Len(t, specs, 1)
	return specs[0]
}

func TestUnionSDKFixturesAreAcceptedWithNullsAsDefaults(t *testing.T) {
	for _, name := range unionFixtures(t) {
		t.Run(name, func(t *testing.T) {
			tmpl := readFixture(t, filepath.Join("testdata", "union", name))
			assert.Equal(t, taskTypeActor, tmpl.GetType())
			env, err := parseEnvironment(tmpl.GetCustom())
			require.NoError(t, err)
			assert.Equal(t, "my-actor", env.Name)
			assert.Regexp(t, "^[0-9a-f]{15}$", env.Version, "Union's version: 15 hex characters of an md5")
			assert.Equal(t, 1, env.Spec.ReplicaCount)
			assert.Equal(t, 1, env.Spec.Parallelism)
			assert.Equal(t, 0, env.Spec.BacklogLength, "backlog_length is null: not set")
			assert.Equal(t, "ghcr.io/flyteactors/seed:fixture", env.Spec.ContainerImage)
			assert.Nil(t, env.Spec.PodTemplateSpec, "Union 0.1.204 puts a pod template in the task's k8s_pod target")
		})
	}
}

// TestUnionAndFlyteactorsFixturesGiveTheSameExecutorPod: a task serialized by Union's SDK and the same task
// serialized by flyteactors run on the same executor pods, with the same command and environment.
func TestUnionAndFlyteactorsFixturesGiveTheSameExecutorPod(t *testing.T) {
	for _, name := range unionFixtures(t) {
		t.Run(name, func(t *testing.T) {
			union := executorEnvironment(t, readFixture(t, filepath.Join("testdata", "union", name)))
			ours := executorEnvironment(t, readFixture(t, filepath.Join("testdata", "flyteactors", name)))
			assert.Equal(t, union.Pod, ours.Pod)
			assert.Equal(t, union.Key.PodHash, ours.Key.PodHash)
			assert.Equal(t, union.PrimaryContainer, ours.PrimaryContainer)
			assert.Equal(t, []any{union.Replicas, union.Slots, union.TTL}, []any{ours.Replicas, ours.Slots, ours.TTL})
			assert.NotEqual(t, union.Key.Version, ours.Key.Version, "the SDKs version environments each their own way")
		})
	}
}

// TestUnionSDKFixturesBuildTheExecutorPodTheirTemplateDescribes checks the pods themselves: the unset
// ttl_seconds of the seed's examples is 30 or 300 as given, resources come through, and the pod template
// example's primary container keeps its template's name, resources and environment.
func TestUnionSDKFixturesBuildTheExecutorPodTheirTemplateDescribes(t *testing.T) {
	hello := executorEnvironment(t, readFixture(t, filepath.Join("testdata", "union", "hello_world.say_hello.json")))
	require.NotNil(t, hello.Pod)
	c := hello.Pod.Spec.Containers[0]
	assert.Equal(t, executorContainerName, c.Name)
	assert.Equal(t, "ghcr.io/flyteactors/seed:fixture", c.Image)
	assert.Equal(t, "2", c.Resources.Requests.Cpu().String())
	assert.Equal(t, "300Mi", c.Resources.Requests.Memory().String())
	assert.Equal(t, []string{"actor-executor"}, c.Command)
	assert.Equal(t, 30, int(hello.TTL.Seconds()))

	podTemplate := executorEnvironment(t, readFixture(t, filepath.Join("testdata", "union", "custom_pod_templates.get_and_set.json")))
	require.Len(t, podTemplate.Pod.Spec.Containers, 1)
	primary := podTemplate.Pod.Spec.Containers[0]
	assert.Equal(t, "primary", primary.Name, "the pod template's primary container keeps its name")
	assert.Equal(t, podTemplate.PrimaryContainer, primary.Name)
	assert.Equal(t, "1Gi", primary.Resources.Limits.Memory().String())
	assert.Contains(t, primary.Env, envVar("COMP_KEY_EX", "compile_time"), "the template's env is the pod's")
	assert.Empty(t, primary.Args)
}
