package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	pluginerrors "github.com/flyteorg/flyte/flyteplugins/go/tasks/errors"
	pluginsCore "github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/core"
	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/flytek8s"
	k8sconfig "github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/flytek8s/config"
	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/utils"
	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/utils/secrets"
	stderrors "github.com/flyteorg/flyte/flytestdlib/errors"

	"github.com/flyteactors/flyteactors/actorpool"
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

// badSpecError marks an error in the task's own definition: retrying cannot fix it.
type badSpecError struct{ err error }

func (e badSpecError) Error() string { return e.err.Error() }
func (e badSpecError) Unwrap() error { return e.err }

// newTask turns the task attempt of tCtx into what the pool runs: the command and environment its pod
// would have had, and the executor pod of its environment, built as Flyte's pod plugin would build the
// task's own pod.
func newTask(ctx context.Context, tCtx pluginsCore.TaskExecutionContext, cfg *Config) (actorpool.Task, error) {
	tmpl, err := tCtx.TaskReader().Read(ctx)
	if err != nil {
		return actorpool.Task{}, fmt.Errorf("read task template: %w", err)
	}
	env, err := parseEnvironment(tmpl.GetCustom())
	if err == nil {
		err = checkLimits(env, cfg)
	}
	if err != nil {
		return actorpool.Task{}, badSpecError{err}
	}
	podSpec, objectMeta, primary, err := buildPod(ctx, tCtx, env.Spec)
	if err != nil {
		var bad badSpecError
		if errors.As(err, &bad) || stderrors.IsCausedBy(err, pluginerrors.BadTaskSpecification) {
			return actorpool.Task{}, badSpecError{err}
		}
		return actorpool.Task{}, fmt.Errorf("build pod spec: %w", err)
	}
	container, err := flytek8s.GetContainer(podSpec, primary)
	if err != nil {
		return actorpool.Task{}, badSpecError{err}
	}
	command := slices.Concat(container.Command, container.Args)
	if len(command) == 0 {
		return actorpool.Task{}, badSpecError{fmt.Errorf("task container %q has neither command nor args", primary)}
	}
	meta := tCtx.TaskExecutionMetadata()
	taskEnv := make([]actorpool.EnvVar, 0, len(container.Env))
	for _, v := range container.Env {
		if v.ValueFrom == nil {
			taskEnv = append(taskEnv, actorpool.EnvVar{Name: v.Name, Value: v.Value})
		}
	}

	pod, primaryName := executorPod(meta, tmpl, podSpec, objectMeta, primary, cfg)
	injectExecutor(pod, primaryName, cfg)
	if err := addSecretInjection(tmpl, pod); err != nil {
		return actorpool.Task{}, badSpecError{err}
	}
	hash, err := podHash(pod)
	if err != nil {
		return actorpool.Task{}, err
	}

	ttl := cfg.DefaultTTL.Duration
	if env.Spec.TTLSeconds != nil {
		ttl = time.Duration(*env.Spec.TTLSeconds) * time.Second
	}
	attempt := meta.GetTaskExecutionID().GetID()
	taskID := attempt.GetTaskId()
	return actorpool.Task{
		ID: meta.GetTaskExecutionID().GetGeneratedName(),
		Environment: actorpool.EnvironmentSpec{
			Key: actorpool.EnvironmentKey{
				Namespace: meta.GetNamespace(),
				Project:   taskID.GetProject(),
				Domain:    taskID.GetDomain(),
				Name:      env.Name,
				Version:   env.Version,
				PodHash:   hash,
			},
			Replicas:         env.Spec.ReplicaCount,
			Slots:            env.Spec.Parallelism,
			TTL:              ttl,
			Pod:              pod,
			PrimaryContainer: primaryName,
		},
		Command: command,
		Env:     taskEnv,
		Owner:   meta.GetOwnerID(),
	}, nil
}

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
