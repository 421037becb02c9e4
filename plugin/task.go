package plugin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	pluginerrors "github.com/flyteorg/flyte/flyteplugins/go/tasks/errors"
	pluginsCore "github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/core"
	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/flytek8s"
	stderrors "github.com/flyteorg/flyte/flytestdlib/errors"

	"github.com/flyteactors/flyteactors/actorpool"
)

// defaultScaledownTTL is how long an idle executor of an environment that scales stays when the spec
// gives no scaledown_ttl_seconds: Flyte 2's default.
const defaultScaledownTTL = 30 * time.Second

// badSpecError marks an error in the task's own definition: retrying cannot fix it.
type badSpecError struct{ err error }

func (e badSpecError) Error() string { return e.err.Error() }
func (e badSpecError) Unwrap() error { return e.err }

// newTask turns the task attempt of tCtx into what the pool runs: the command and environment its pod
// would have had, and the executor pod of its environment, built as Flyte's pod plugin would build the
// task's own pod, in shard of FlytePropeller.
func newTask(ctx context.Context, tCtx pluginsCore.TaskExecutionContext, cfg *Config, shard string) (actorpool.Task, error) {
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
	// Union's environments have a fixed size: without min_replica_count, the fewest is the most.
	minReplicas := env.Spec.ReplicaCount
	if env.Spec.MinReplicaCount != nil {
		minReplicas = *env.Spec.MinReplicaCount
	}
	scaledownTTL := defaultScaledownTTL
	if env.Spec.ScaledownTTLSeconds != nil {
		scaledownTTL = time.Duration(*env.Spec.ScaledownTTLSeconds) * time.Second
	}
	attempt := meta.GetTaskExecutionID().GetID()
	taskID := attempt.GetTaskId()
	return actorpool.Task{
		ID:   meta.GetTaskExecutionID().GetGeneratedName(),
		Name: taskID.GetName(),
		Environment: actorpool.EnvironmentSpec{
			Key: actorpool.EnvironmentKey{
				Namespace: meta.GetNamespace(),
				Project:   taskID.GetProject(),
				Domain:    taskID.GetDomain(),
				Name:      env.Name,
				Version:   env.Version,
				PodHash:   hash,
				Shard:     shard,
			},
			Replicas:         env.Spec.ReplicaCount,
			MinReplicas:      minReplicas,
			Backlog:          env.Spec.BacklogLength,
			ScaledownTTL:     scaledownTTL,
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
