package plugin

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	pluginsCore "github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/core"
	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/flytek8s"
	k8sconfig "github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/flytek8s/config"
	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/utils"
	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/utils/secrets"
)

// executorContainerName names the executor container of pods built from a container task, whose
// container Flyte names after the attempt.
const executorContainerName = "actor"

// perAttemptEnvPrefixes and perAttemptEnvNames are the environment variables Flyte sets per attempt
// (execution, task and attempt identity). They go with each task, never into the executor pod.
var (
	perAttemptEnvPrefixes = []string{"FLYTE_INTERNAL_"}
	// _F_SS_C is flytekit's serialization settings, which it gives only the container of a dynamic
	// task: kept in the pod, it would give a dynamic task an environment apart from the tasks it yields.
	perAttemptEnvNames = []string{"FLYTE_ATTEMPT_NUMBER", "FLYTE_EXECUTION_URL", "_F_SS_C"}
)

// executorPod turns the task's pod into its environment's executor pod: the same pod but for what
// belongs to one attempt (command, per-attempt environment, attempt-named container) and with the
// executor as the primary container's command. It returns the pod and its primary container's name.
func executorPod(meta pluginsCore.TaskExecutionMetadata, tmpl *idlcore.TaskTemplate, podSpec *corev1.PodSpec,
	objectMeta *metav1.ObjectMeta, primary string, cfg *Config) (*corev1.Pod, string) {
	spec := podSpec.DeepCopy()
	perAttempt := map[string]bool{}
	for name := range meta.GetEnvironmentVariables() {
		perAttempt[name] = true
	}
	primaryName := primary
	if tmpl.GetContainer() != nil && meta.GetOverrides().GetPodTemplate().GetPodSpec() == nil {
		// Flyte names a container task's container after the attempt (or randomly): give the
		// environment's pods one stable name instead.
		primaryName = executorContainerName
	}
	isPerAttempt := func(v corev1.EnvVar) bool {
		return perAttempt[v.Name] || slices.Contains(perAttemptEnvNames, v.Name) ||
			slices.ContainsFunc(perAttemptEnvPrefixes, func(p string) bool { return strings.HasPrefix(v.Name, p) })
	}
	// Flyte gives every container (sidecars and init containers too) the attempt's variables: left in,
	// they would make each attempt's pod, and so its environment, a new one.
	for _, containers := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range containers {
			containers[i].Env = slices.DeleteFunc(containers[i].Env, isPerAttempt)
		}
	}
	for i := range spec.Containers {
		c := &spec.Containers[i]
		if c.Name != primary {
			continue
		}
		c.Name = primaryName
		c.Command = slices.Clone(cfg.ExecutorCommand)
		c.Args = nil
	}
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = flytek8s.GetServiceAccountNameFromTaskExecutionMetadata(meta)
	}
	k8sCfg := k8sconfig.GetK8sPluginConfig()
	taskK8sMeta := tmpl.GetMetadata().GetMetadata()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: meta.GetNamespace(),
			Labels:    utils.UnionMaps(k8sCfg.DefaultLabels, objectMeta.GetLabels(), taskK8sMeta.GetLabels()),
			Annotations: utils.UnionMaps(k8sCfg.DefaultAnnotations, objectMeta.GetAnnotations(),
				taskK8sMeta.GetAnnotations()),
		},
		Spec: *spec,
	}
	return pod, primaryName
}

// addSecretInjection marks the pod for Flyte's secret webhook, which mounts the task's secrets when
// the pod is created, exactly as for the task's own pod. The secrets are the task template's: the
// execution's security context (TaskExecutionMetadata) carries only whom to run as.
func addSecretInjection(tmpl *idlcore.TaskTemplate, pod *corev1.Pod) error {
	requested := tmpl.GetSecurityContext().GetSecrets()
	if len(requested) == 0 {
		return nil
	}
	annotations, err := secrets.MarshalSecretsToMapStrings(requested)
	if err != nil {
		return fmt.Errorf("task secrets: %w", err)
	}
	pod.Annotations = utils.UnionMaps(pod.Annotations, annotations)
	pod.Labels = utils.UnionMaps(pod.Labels, map[string]string{secrets.PodLabel: secrets.PodLabelValue})
	return nil
}

// podHash returns a short hash of everything that shapes the executor pod. Environment variables are
// hashed in name order, because Flyte adds some from maps in no fixed order.
func podHash(pod *corev1.Pod) (string, error) {
	canonical := pod.DeepCopy()
	for _, list := range [][]corev1.Container{canonical.Spec.InitContainers, canonical.Spec.Containers} {
		for i := range list {
			slices.SortStableFunc(list[i].Env, func(a, b corev1.EnvVar) int { return strings.Compare(a.Name, b.Name) })
		}
	}
	raw, err := json.Marshal(struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		Spec        corev1.PodSpec    `json:"spec"`
	}{canonical.Labels, canonical.Annotations, canonical.Spec})
	if err != nil {
		return "", fmt.Errorf("hash executor pod: %w", err)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:8]), nil
}
