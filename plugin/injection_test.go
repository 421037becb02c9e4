package plugin

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// TestExecutorIsInjectedFromItsImage: with plugins.actor.executor-image set, an init
// container installs the executor into a shared emptyDir and the primary container runs it from there,
// so the task's image need not contain it; either way a failing executor's log tail becomes its
// termination message.
func TestExecutorIsInjectedFromItsImage(t *testing.T) {
	cfg := defaultConfig
	cfg.ExecutorImage = "registry.example.com/flyteactors/actor-executor:1.0"
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "actor", Image: "task:1",
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}}}
	injectExecutor(pod, "actor", &cfg)

	require.Len(t, pod.Spec.InitContainers, 1)
	install := pod.Spec.InitContainers[0]
	assert.Equal(t, cfg.ExecutorImage, install.Image)
	assert.Equal(t, corev1.PullIfNotPresent, install.ImagePullPolicy)
	assert.Equal(t, []string{"/actor-executor", "install", "/flyte-actor"}, install.Command)
	assert.Equal(t, pod.Spec.Containers[0].Resources, install.Resources, "quota-friendly, and no larger than the pod's")
	primary := pod.Spec.Containers[0]
	assert.Equal(t, []string{"/flyte-actor/actor-executor"}, primary.Command)
	assert.Equal(t, "task:1", primary.Image, "the task's own image")
	assert.Equal(t, corev1.TerminationMessageFallbackToLogsOnError, primary.TerminationMessagePolicy)
	require.Len(t, pod.Spec.Volumes, 1)
	assert.NotNil(t, pod.Spec.Volumes[0].EmptyDir)
	assert.Equal(t, install.VolumeMounts, primary.VolumeMounts)

	inImage := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "actor", Command: []string{"actor-executor"}}}}}
	injectExecutor(inImage, "actor", &defaultConfig)
	assert.Empty(t, inImage.Spec.InitContainers, "without an executor image, the image holds the executor")
	assert.Equal(t, []string{"actor-executor"}, inImage.Spec.Containers[0].Command)
}
