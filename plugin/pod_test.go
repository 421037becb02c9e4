package plugin

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	pluginsCore "github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/core"
	"github.com/flyteorg/flyte/flyteplugins/tests"
)

// TestEnvironmentPodTemplateIsLaidUnderTheTaskPod: spec.pod_template_spec shapes the executor pods the way a
// PodTemplate shapes a task's pod: the template's primary container is the base of the task's, the task's
// own values win, the template's pod fields, metadata and sidecars are the pod's.
func TestEnvironmentPodTemplateIsLaidUnderTheTaskPod(t *testing.T) {
	tmpl := actorTemplate(t, map[string]any{
		"pod_template_spec": podTemplateSpec(environmentPodTemplate), "primary_container_name": "main",
	})
	env := executorEnvironment(t, tmpl)
	pod := env.Pod
	assert.Equal(t, "ml", pod.Labels["team"])
	assert.Equal(t, "from the template", pod.Annotations["note"])
	assert.Equal(t, "gpu", pod.Spec.NodeSelector["pool"])
	require.Len(t, pod.Spec.Volumes, 1)

	require.Len(t, pod.Spec.Containers, 2, "the executor and the template's sidecar")
	executor, sidecar := pod.Spec.Containers[0], pod.Spec.Containers[1]
	assert.Equal(t, env.PrimaryContainer, executor.Name)
	assert.Equal(t, executorContainerName, executor.Name)
	assert.Equal(t, "ghcr.io/example/flytekit:1", executor.Image, "the task's image wins over the template's")
	assert.Equal(t, []string{"actor-executor"}, executor.Command)
	assert.Contains(t, executor.Env, envVar("FROM_TEMPLATE", "t"))
	assert.Contains(t, executor.Env, envVar("MY_ENV", "from-the-environment"))
	assert.Equal(t, "2Gi", executor.Resources.Limits.Memory().String())
	assert.Equal(t, []corev1.VolumeMount{{Name: "cache", MountPath: "/cache"}}, executor.VolumeMounts)
	assert.Equal(t, []string{"proxy", "proxy:1"}, []string{sidecar.Name, sidecar.Image}, "the sidecar stays")
	assert.Empty(t, sidecar.Env, "Flyte's per-attempt variables are not left in sidecars either")

	without := executorEnvironment(t, actorTemplate(t, map[string]any{}))
	assert.NotEqual(t, without.Key.PodHash, env.Key.PodHash, "the template is part of the environment's identity")
}

func TestEnvironmentPodTemplatePrimaryDefaultsToFlytekitsName(t *testing.T) {
	tmpl := actorTemplate(t, map[string]any{
		"pod_template_spec": podTemplateSpec(`{"spec": {"containers": [{"name": "primary", "env": [{"name": "A", "value": "b"}]}]}}`),
	})
	pod := executorEnvironment(t, tmpl).Pod
	require.Len(t, pod.Spec.Containers, 1)
	assert.Contains(t, pod.Spec.Containers[0].Env, envVar("A", "b"))
}

// TestBadEnvironmentPodTemplateFailsTheTaskNamingTheField: a template the plugin cannot apply, or whose pods
// the API server would refuse, fails the task at once instead of leaving it waiting for executors.
func TestBadEnvironmentPodTemplateFailsTheTaskNamingTheField(t *testing.T) {
	for name, tc := range map[string]struct {
		spec map[string]any
		want string
	}{
		"no primary container": {map[string]any{"pod_template_spec": podTemplateSpec(`{"spec": {"containers": [{"name": "main"}]}}`)},
			`execution env spec.pod_template_spec: has no container named "primary", the primary container (spec.primary_container_name)`},
		"primary named elsewhere": {map[string]any{"primary_container_name": "app", "pod_template_spec": podTemplateSpec(`{"spec": {"containers": [{"name": "main"}]}}`)},
			`has no container named "app"`},
		"bad primary name": {map[string]any{"primary_container_name": "Main_1", "pod_template_spec": podTemplateSpec(`{"spec": {"containers": [{"name": "Main_1"}]}}`)},
			`execution env spec.primary_container_name: "Main_1" is not a container name`},
		"bad sidecar name": {map[string]any{"pod_template_spec": podTemplateSpec(`{"spec": {"containers": [{"name": "primary"}, {"name": "side car"}]}}`)},
			`execution env spec.pod_template_spec: container name "side car"`},
		"unnamed container": {map[string]any{"pod_template_spec": podTemplateSpec(`{"spec": {"containers": [{"name": "primary"}, {"image": "x"}]}}`)},
			`execution env spec.pod_template_spec: container name ""`},
		"two of a name": {map[string]any{"pod_template_spec": podTemplateSpec(`{"spec": {"initContainers": [{"name": "primary"}], "containers": [{"name": "primary"}]}}`)},
			`execution env spec.pod_template_spec: two containers are named "primary"`},
		"primary is another": {map[string]any{"primary_container_name": "main", "pod_template_spec": podTemplateSpec(`{"spec": {"containers": [{"name": "main"}, {"name": "primary"}]}}`)},
			`a container named "primary" would be taken for the primary container's template, but the primary container is "main"`},
		"bad label": {map[string]any{"pod_template_spec": podTemplateSpec(`{"metadata": {"labels": {"a": "not ok!"}}, "spec": {"containers": [{"name": "primary"}]}}`)},
			`execution env spec.pod_template_spec.metadata.labels: Invalid value: "not ok!"`},
		"bad annotation": {map[string]any{"pod_template_spec": podTemplateSpec(`{"metadata": {"annotations": {"-bad": "x"}}, "spec": {"containers": [{"name": "primary"}]}}`)},
			`execution env spec.pod_template_spec.metadata.annotations: Invalid value: "-bad"`},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, nil)
			phase := tests.RunPluginEndToEndTest(t, h.plugin, actorTemplate(t, tc.spec), &idlcore.LiteralMap{}, nil, nil, nil)
			require.Equal(t, pluginsCore.PhasePermanentFailure, phase.Phase())
			assert.Equal(t, codeBadTaskSpec, phase.Err().GetCode())
			assert.Contains(t, phase.Err().GetMessage(), tc.want)
			assert.Empty(t, h.cluster.Specs(), "no environment was asked for")
		})
	}
}
