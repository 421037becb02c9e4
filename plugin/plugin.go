// Package plugin is the Flyte Actors FlytePropeller core plugin. It takes tasks of type "actor" (and
// the older "fast-task"), validates their environment, turns each attempt into the command its pod
// would have run, hands it to the actor pool keyed by the attempt's unique generated name, and maps
// what the pool says back to Flyte phases. It keeps no plugin state: the pool is asked every round.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery"
	pluginsCore "github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/core"
	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/tasklog"
	propellerconfig "github.com/flyteorg/flyte/flytepropeller/pkg/controller/config"
	"github.com/flyteorg/flyte/flytestdlib/otelutils"

	"github.com/flyteactors/flyteactors/actorpool"
)

const (
	pluginID = "actor"
	// taskTypeActor is what flytekit's ActorEnvironment tasks carry; taskTypeFastTask is the older name.
	taskTypeActor    = "actor"
	taskTypeFastTask = "fast-task"
)

// Error codes the plugin reports to Flyte.
const (
	codeBadTaskSpec = "BadTaskSpecification"
	codeOOM         = "OOMKilled"
)

// Pool is what the plugin needs from the actor pool.
type Pool interface {
	// Submit queues a task attempt; submitting an attempt the pool knows changes nothing.
	Submit(ctx context.Context, t actorpool.Task) error
	// Status returns what the pool knows about an attempt, and false if it does not know it.
	Status(id string) (actorpool.TaskStatus, bool)
	// Release forgets an attempt, cancelling it if it still runs.
	Release(id string)
	// AwaitEnd waits up to budget for an attempt an executor runs to end, if its task typically ends
	// within budget, and then returns what Status does.
	AwaitEnd(ctx context.Context, id string, budget time.Duration) (actorpool.TaskStatus, bool)
}

// Plugin is the actor core plugin.
type Plugin struct {
	pool Pool
	cfg  *Config
	// shard is the shard of FlytePropeller the plugin runs in ("" unsharded): part of every
	// environment's key, so that shards never share executors.
	shard string
	// logPlugin builds the log links of actor tasks.
	logPlugin tasklog.Plugin
	// waiting holds a token for each round waiting for its attempt to end (WaitInRound); nil when
	// rounds never wait.
	waiting chan struct{}
}

var _ pluginsCore.Plugin = (*Plugin)(nil)

// New returns a plugin that runs tasks on pool, in shard of FlytePropeller ("" unsharded), with the log
// links plugins.logs and cfg configure.
func New(pool Pool, cfg *Config, shard string) (*Plugin, error) {
	logPlugin, err := newLogPlugin(cfg)
	if err != nil {
		return nil, err
	}
	p := &Plugin{pool: pool, cfg: cfg, shard: shard, logPlugin: logPlugin}
	if cfg.WaitInRound.MaxWait.Duration > 0 {
		p.waiting = make(chan struct{}, maxWaitingRounds(cfg.WaitInRound.MaxWaiting, propellerconfig.GetConfig().Workers))
	}
	return p, nil
}

// GetID returns "actor".
func (p *Plugin) GetID() string { return pluginID }

// GetProperties returns the plugin's properties: none beyond Flyte's defaults.
func (p *Plugin) GetProperties() pluginsCore.PluginProperties { return pluginsCore.PluginProperties{} }

// Handle submits the attempt if the pool does not know it yet, then reports the pool's view of it.
func (p *Plugin) Handle(ctx context.Context, tCtx pluginsCore.TaskExecutionContext) (pluginsCore.Transition, error) {
	// A span in propeller's trace (otel configuration), beside its own of the round and the task handler.
	// Calls keep the caller's context: Flyte's plugin test harness expects it unchanged.
	_, span := otelutils.NewSpan(ctx, otelutils.FlytePropellerTracer, "flyteactors.plugin.Plugin/Handle")
	defer span.End()
	id := tCtx.TaskExecutionMetadata().GetTaskExecutionID().GetGeneratedName()
	status, known := p.pool.Status(id)
	if !known {
		task, err := newTask(ctx, tCtx, p.cfg, p.shard)
		var bad badSpecError
		if errors.As(err, &bad) {
			return pluginsCore.DoTransition(pluginsCore.PhaseInfoFailure(codeBadTaskSpec, bad.Error(), nil)), nil
		}
		if err != nil {
			return pluginsCore.UnknownTransition, err
		}
		if err := p.pool.Submit(ctx, task); err != nil {
			return pluginsCore.DoTransition(pluginsCore.PhaseInfoFailure(codeBadTaskSpec, err.Error(), nil)), nil
		}
		if status, known = p.pool.Status(id); !known {
			return pluginsCore.UnknownTransition, fmt.Errorf("actor task %s vanished right after it was submitted", id)
		}
	}
	if phase := status.Phase(); phase == actorpool.TaskAssigned || phase == actorpool.TaskRunning {
		status = p.awaitEnd(ctx, id, status)
	}
	return p.transition(ctx, tCtx, status)
}

// awaitEnd lets the round wait a little for an attempt on an executor to end, when its task typically
// ends within plugins.actor.wait-in-round.max-wait: the round then reports the attempt's end, and
// FlytePropeller goes on to the workflow's next node in the same streak of rounds, instead of waiting for
// the pool's wake-up to come through its workqueue (with the batch queue, the next batch; with
// flyte-core's queue settings, at least 5 s). A waiting round holds a propeller worker, so at most
// max-waiting rounds wait at once; the others return at once, as without waiting.
func (p *Plugin) awaitEnd(ctx context.Context, id string, status actorpool.TaskStatus) actorpool.TaskStatus {
	if p.waiting == nil {
		return status
	}
	select {
	case p.waiting <- struct{}{}:
	default:
		return status
	}
	defer func() { <-p.waiting }()
	_, span := otelutils.NewSpan(ctx, otelutils.FlytePropellerTracer, "flyteactors.plugin.Plugin/awaitEnd")
	defer span.End()
	if later, known := p.pool.AwaitEnd(ctx, id, p.cfg.WaitInRound.MaxWait.Duration); known {
		return later
	}
	return status
}

// maxWaitingRounds is how many rounds may wait for their attempts at once: configured, or a quarter of
// FlytePropeller's workers, at least one.
func maxWaitingRounds(configured, workers int) int {
	if configured > 0 {
		return configured
	}
	return max(1, workers/4)
}

// Abort stops the attempt wherever it is.
func (p *Plugin) Abort(_ context.Context, tCtx pluginsCore.TaskExecutionContext) error {
	p.pool.Release(tCtx.TaskExecutionMetadata().GetTaskExecutionID().GetGeneratedName())
	return nil
}

// Finalize releases the attempt: Flyte has recorded its end.
func (p *Plugin) Finalize(_ context.Context, tCtx pluginsCore.TaskExecutionContext) error {
	p.pool.Release(tCtx.TaskExecutionMetadata().GetTaskExecutionID().GetGeneratedName())
	return nil
}

func init() {
	var once poolOnce
	pluginmachinery.PluginRegistry().RegisterCorePlugin(pluginsCore.PluginEntry{
		ID:                  pluginID,
		RegisteredTaskTypes: []pluginsCore.TaskType{taskTypeActor, taskTypeFastTask},
		LoadPlugin: func(ctx context.Context, iCtx pluginsCore.SetupContext) (pluginsCore.Plugin, error) {
			cfg := currentConfig()
			pool, place, err := once.get(ctx, iCtx, cfg)
			if err != nil {
				return nil, err
			}
			return New(pool, cfg, place.shard)
		},
		IsDefault: false,
	})
}
