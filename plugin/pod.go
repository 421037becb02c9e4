package plugin

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pluginsCore "github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/core"
	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/flytek8s"
	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/utils"
)

// buildPod builds the pod Flyte's pod plugin would build for the attempt, in flytek8s.ToK8sPodSpec's steps,
// with the environment's pod template, if it has one, laid under the task's own pod before Flyte's
// configuration (resources, platform env, tolerations, the cluster's default PodTemplate) applies.
func buildPod(ctx context.Context, tCtx pluginsCore.TaskExecutionContext, spec actorSpec) (
	*corev1.PodSpec, *metav1.ObjectMeta, string, error) {
	podSpec, objectMeta, primary, err := flytek8s.BuildRawPod(ctx, tCtx)
	if err != nil {
		return nil, nil, "", err
	}
	if spec.PodTemplateSpec != nil {
		podSpec, objectMeta, err = applyEnvironmentPodTemplate(spec.PodTemplateSpec, spec.PrimaryContainerName,
			podSpec, objectMeta, primary)
		if err != nil {
			return nil, nil, "", badSpecError{err}
		}
	}
	podSpec, objectMeta, err = flytek8s.ApplyFlytePodConfiguration(ctx, tCtx, podSpec, objectMeta, primary)
	if err != nil {
		return nil, nil, "", err
	}
	return flytek8s.AddTolerationsForExtendedResources(podSpec), objectMeta, primary, nil
}

// applyEnvironmentPodTemplate lays an environment's pod template (ExecutionEnv spec.pod_template_spec) under
// the task's pod the way Flyte lays a PodTemplate under a task's pod (flytek8s.MergeBasePodSpecOntoTemplate):
// the task's pod-level fields win over the template's, the template's primary container (templatePrimary,
// spec.primary_container_name) is the base of the task's primary container, a container named "default"
// the base of every container, and the template's labels and annotations those of the pod. Unlike a
// PodTemplate resource, whose other containers Flyte drops, the template's other containers (sidecars) are
// kept, as flytekit keeps them for a task's own pod_template: the environment's template describes its pods.
func applyEnvironmentPodTemplate(tmpl *corev1.PodTemplateSpec, templatePrimary string, podSpec *corev1.PodSpec,
	objectMeta *metav1.ObjectMeta, primary string) (*corev1.PodSpec, *metav1.ObjectMeta, error) {
	base := tmpl.Spec.DeepCopy()
	for i := range base.Containers {
		if base.Containers[i].Name == templatePrimary {
			base.Containers[i].Name = flytePrimaryTemplateName
		}
	}
	merged, err := flytek8s.MergeBasePodSpecOntoTemplate(base, podSpec, primary, "")
	if err != nil {
		return nil, nil, fmt.Errorf("execution env spec.pod_template_spec: cannot be applied: %w", err)
	}
	merged.Containers = append(merged.Containers, containersMissingFrom(base.Containers, merged.Containers)...)
	merged.InitContainers = append(merged.InitContainers, containersMissingFrom(base.InitContainers, merged.InitContainers)...)
	meta := objectMeta.DeepCopy()
	meta.Labels = utils.UnionMaps(tmpl.Labels, objectMeta.Labels)
	meta.Annotations = utils.UnionMaps(tmpl.Annotations, objectMeta.Annotations)
	return merged, meta, nil
}

// containersMissingFrom returns the template's containers that are not templates of others (Flyte's
// "primary" and "default") and have no namesake in pod.
func containersMissingFrom(template, pod []corev1.Container) []corev1.Container {
	var missing []corev1.Container
	for _, c := range template {
		if c.Name == flytePrimaryTemplateName || c.Name == "default" ||
			slices.ContainsFunc(pod, func(p corev1.Container) bool { return p.Name == c.Name }) {
			continue
		}
		missing = append(missing, *c.DeepCopy())
	}
	return missing
}
