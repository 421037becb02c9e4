// Package plugin is the Flyte Actors FlytePropeller core plugin. It takes tasks of type "actor" (and
// the older "fast-task"), validates their environment, turns each attempt into the command its pod
// would have run, hands it to the actor pool keyed by the attempt's unique generated name, and maps
// what the pool says back to Flyte phases. It keeps no plugin state: the pool is asked every round.
package plugin

import (
	"context"
	"errors"
	"fmt"

	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery"
	pluginsCore "github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/core"
	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/tasklog"

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
}

var _ pluginsCore.Plugin = (*Plugin)(nil)

// New returns a plugin that runs tasks on pool, in shard of FlytePropeller ("" unsharded), with the log
// links plugins.logs and cfg configure.
func New(pool Pool, cfg *Config, shard string) (*Plugin, error) {
	logPlugin, err := newLogPlugin(cfg)
	if err != nil {
		return nil, err
	}
	return &Plugin{pool: pool, cfg: cfg, shard: shard, logPlugin: logPlugin}, nil
}

// GetID returns "actor".
func (p *Plugin) GetID() string { return pluginID }

// GetProperties returns the plugin's properties: none beyond Flyte's defaults.
func (p *Plugin) GetProperties() pluginsCore.PluginProperties { return pluginsCore.PluginProperties{} }

// Handle submits the attempt if the pool does not know it yet, then reports the pool's view of it.
func (p *Plugin) Handle(ctx context.Context, tCtx pluginsCore.TaskExecutionContext) (pluginsCore.Transition, error) {
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
	return p.transition(ctx, tCtx, status)
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
