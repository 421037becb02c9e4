// Package plugin is the Flyte Actors FlytePropeller core plugin. It takes tasks of type "actor" (and
// the older "fast-task"), validates their environment, turns each attempt into the command its pod
// would have run, hands it to the actor pool keyed by the attempt's unique generated name, and maps
// what the pool says back to Flyte phases. It keeps no plugin state: the pool is asked every round.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery"
	pluginsCore "github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/core"
	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/flytek8s"
	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/ioutils"
	propellerconfig "github.com/flyteorg/flyte/flytepropeller/pkg/controller/config"
	propellerutils "github.com/flyteorg/flyte/flytepropeller/pkg/utils"
	"github.com/flyteorg/flyte/flytestdlib/logger"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/actorpool/executorsvc"
	"github.com/flyteactors/flyteactors/actorpool/kubepods"
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
}

var _ pluginsCore.Plugin = (*Plugin)(nil)

// New returns a plugin that runs tasks on pool.
func New(pool Pool, cfg *Config) *Plugin { return &Plugin{pool: pool, cfg: cfg} }

// GetID returns "actor".
func (p *Plugin) GetID() string { return pluginID }

// GetProperties returns the plugin's properties: none beyond Flyte's defaults.
func (p *Plugin) GetProperties() pluginsCore.PluginProperties { return pluginsCore.PluginProperties{} }

// Handle submits the attempt if the pool does not know it yet, then reports the pool's view of it.
func (p *Plugin) Handle(ctx context.Context, tCtx pluginsCore.TaskExecutionContext) (pluginsCore.Transition, error) {
	id := tCtx.TaskExecutionMetadata().GetTaskExecutionID().GetGeneratedName()
	status, known := p.pool.Status(id)
	if !known {
		task, err := newTask(ctx, tCtx, p.cfg)
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

// transition maps a pool status to the Flyte phase of the attempt.
func (p *Plugin) transition(ctx context.Context, tCtx pluginsCore.TaskExecutionContext, s actorpool.TaskStatus) (pluginsCore.Transition, error) {
	now := time.Now()
	info := &pluginsCore.TaskInfo{OccurredAt: &now}
	switch s.Phase() {
	case actorpool.TaskQueued:
		// The version follows the waiting reason, so that propeller records (and the UI shows) each
		// new reason, not only the first.
		version := pluginsCore.DefaultPhaseVersion + s.Version
		if s.ExecutorsConnected == 0 {
			return pluginsCore.DoTransition(pluginsCore.PhaseInfoWaitingForResourcesInfo(version, s.Waiting, info)), nil
		}
		return pluginsCore.DoTransition(pluginsCore.PhaseInfoQueuedWithTaskInfo(version, s.Waiting, info)), nil
	case actorpool.TaskAssigned:
		return pluginsCore.DoTransition(pluginsCore.PhaseInfoInitializing(pluginsCore.DefaultPhaseVersion,
			fmt.Sprintf("assigned to executor %s", s.Executor), info)), nil
	case actorpool.TaskRunning:
		return pluginsCore.DoTransition(pluginsCore.PhaseInfoRunning(pluginsCore.DefaultPhaseVersion, info)), nil
	case actorpool.TaskSucceeded:
		// Outputs, or the task's own error document, are where its pod would have left them;
		// FlytePropeller reads and checks them exactly as for a pod.
		reader := ioutils.NewRemoteFileOutputReader(ctx, tCtx.DataStore(), tCtx.OutputWriter(), 0)
		if err := tCtx.OutputWriter().Put(ctx, reader); err != nil {
			return pluginsCore.UnknownTransition, err
		}
		return pluginsCore.DoTransition(pluginsCore.PhaseInfoSuccess(info)), nil
	case actorpool.TaskFailed:
		f, _ := s.Failure()
		return pluginsCore.DoTransition(failurePhase(ctx, f, info)), nil
	}
	return pluginsCore.UnknownTransition, fmt.Errorf("actor task in unknown pool phase %s", s.Phase())
}

// failurePhase maps a pool failure to a Flyte failure: whose fault (user or system budget) and
// whether Flyte may retry. Running out of memory is the task's to fix, as for a pod. A task whose
// process ended (it exited non-zero, or a signal killed it) is classified by Flyte's own reading of a
// pod whose container ended so, so that it fails exactly as it would have in a pod of its own.
func failurePhase(ctx context.Context, f actorpool.Failure, info *pluginsCore.TaskInfo) pluginsCore.PhaseInfo {
	code, msg := f.Code, f.Message
	switch {
	case f.ExitCode != 0:
		reason := "Error"
		if f.OOM {
			reason = flytek8s.OOMKilled
		}
		status := corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{
			Name:  executorContainerName,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: f.ExitCode, Reason: reason, Message: msg}},
		}}}
		phase, err := flytek8s.DemystifyFailure(ctx, status, *info, executorContainerName)
		if err == nil {
			return phase
		}
		return pluginsCore.PhaseInfoSystemRetryableFailure(code, msg, info)
	case f.OOM:
		return pluginsCore.PhaseInfoRetryableFailure(codeOOM, msg, info)
	case f.Kind == actorpool.FailureUser && f.Retryable:
		return pluginsCore.PhaseInfoRetryableFailure(code, msg, info)
	case f.Kind == actorpool.FailureUser:
		return pluginsCore.PhaseInfoFailure(code, msg, info)
	case f.Retryable:
		return pluginsCore.PhaseInfoSystemRetryableFailure(code, msg, info)
	default:
		return pluginsCore.PhaseInfoSystemFailure(code, msg, info)
	}
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

// startPool starts the actor pool and its executor service for this FlytePropeller process. They
// live as long as ctx.
func startPool(ctx context.Context, iCtx pluginsCore.SetupContext, cfg *Config) (*actorpool.Pool, error) {
	propeller := propellerconfig.GetConfig()
	if err := checkNotSharded(propeller); err != nil {
		return nil, err
	}
	clientset, _, err := propellerutils.GetKubeConfig(ctx, propeller)
	if err != nil {
		return nil, fmt.Errorf("actor pool: kubernetes client: %w", err)
	}
	serverTLS, ca, err := serverTLS(ctx, clientset, cfg)
	if err != nil {
		return nil, err
	}
	// Listen before the pool starts: a pool, its goroutines and its metrics are not undone if this fails.
	lis, err := net.Listen("tcp", cfg.ListenAddress)
	if err != nil {
		return nil, fmt.Errorf("actor pool: listen on %s: %w", cfg.ListenAddress, err)
	}
	enqueue := iCtx.EnqueueOwner()
	notify := func(owner types.NamespacedName) {
		if err := enqueue(owner); err != nil {
			logger.Warnf(ctx, "actor pool: cannot wake workflow %s: %v", owner, err)
		}
	}
	cluster := kubepods.New(clientset, kubepods.Options{
		PoolAddress:   cfg.AdvertiseAddress,
		Namespace:     watchedNamespace(propeller.LimitNamespace),
		WarmupTimeout: cfg.WarmupTimeout.Duration,
		CA:            ca,
	})
	go func() {
		<-ctx.Done()
		cluster.Close()
	}()
	pool := actorpool.New(ctx, cluster, notify, actorpool.Options{
		ResyncInterval:   cfg.ResyncInterval.Duration,
		ReconnectGrace:   cfg.ReconnectGrace.Duration,
		OrphanGrace:      cfg.OrphanGrace.Duration,
		ForgetAfter:      cfg.ForgetAfter.Duration,
		MaxRetryInterval: cfg.MaxRetryInterval.Duration,
		StartTimeout:     cfg.StartTimeout.Duration,
		Metrics:          iCtx.MetricsScope().NewSubScope("pool"),
	})
	svc := executorsvc.New(pool, executorsvc.Options{
		HeartbeatInterval: cfg.HeartbeatInterval.Duration,
		MissedHeartbeats:  cfg.MissedHeartbeats,
		TLS:               serverTLS,
	})
	go func() {
		if err := svc.Serve(ctx, lis); err != nil {
			logger.Errorf(ctx, "actor pool: executor service stopped: %v", err)
		}
	}()
	logger.Infof(ctx, "actor pool: executor service on %s, advertised as %s (TLS %s)", lis.Addr(), cfg.AdvertiseAddress, cfg.TLS.Mode)
	return pool, nil
}

// watchedNamespace turns propeller's limit-namespace ("all" or one namespace) into a namespace to
// list in; "" lists every namespace.
func watchedNamespace(limit string) string {
	if limit == "all" {
		return ""
	}
	return limit
}

// poolOnce holds the one pool of this FlytePropeller process and the configuration it was started
// with. FlytePropeller may load plugins more than once in a process, but there is one listening port.
type poolOnce struct {
	mu   sync.Mutex
	pool *actorpool.Pool
	cfg  Config
}

// get returns the process's pool, starting it with cfg the first time. A later call with another
// configuration is an error rather than a pool that silently ignores it.
func (o *poolOnce) get(ctx context.Context, iCtx pluginsCore.SetupContext, cfg *Config) (*actorpool.Pool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.pool != nil {
		if !reflect.DeepEqual(o.cfg, *cfg) {
			return nil, fmt.Errorf("plugins.actor changed from %+v to %+v after the actor pool started: restart FlytePropeller to apply it", o.cfg, *cfg)
		}
		return o.pool, nil
	}
	pool, err := startPool(ctx, iCtx, cfg)
	if err != nil {
		return nil, err
	}
	o.pool, o.cfg = pool, *cfg
	return pool, nil
}

func init() {
	var once poolOnce
	pluginmachinery.PluginRegistry().RegisterCorePlugin(pluginsCore.PluginEntry{
		ID:                  pluginID,
		RegisteredTaskTypes: []pluginsCore.TaskType{taskTypeActor, taskTypeFastTask},
		LoadPlugin: func(ctx context.Context, iCtx pluginsCore.SetupContext) (pluginsCore.Plugin, error) {
			cfg := currentConfig()
			pool, err := once.get(ctx, iCtx, cfg)
			if err != nil {
				return nil, err
			}
			return New(pool, cfg), nil
		},
		IsDefault: false,
	})
}
