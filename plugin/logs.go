package plugin

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	idlcore "github.com/flyteorg/flyte/flyteidl/gen/pb-go/flyteidl/core"
	"github.com/flyteorg/flyte/flyteplugins/go/tasks/logs"
	pluginsCore "github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/core"
	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/tasklog"

	"github.com/flyteactors/flyteactors/actorpool"
)

// Template variables of actor tasks' log links beside Flyte's own.
var (
	actorTaskIDVar      = tasklog.MustCreateRegex("actorTaskID")
	actorEnvironmentVar = tasklog.MustCreateRegex("actorEnvironment")
)

// newLogPlugin returns the log links plugin of actor tasks: the links plugins.logs configures for
// pods, then cfg's own templates, built with Flyte's tasklog.
func newLogPlugin(cfg *Config) (tasklog.Plugin, error) {
	merged := *logs.GetLogConfig()
	merged.Templates = append(append([]tasklog.TemplateLogPlugin{}, merged.Templates...), cfg.LogTemplates...)
	plugin, err := logs.InitializeLogPlugins(&merged)
	if err != nil {
		return nil, fmt.Errorf("plugins.logs, plugins.actor.log-templates: %w", err)
	}
	return plugin, nil
}

// taskInfo returns what Flyte records of the attempt in this phase: when, the log links of the executor
// pod that runs or ran it, limited to the attempt's own time window (its end is now while it runs, as
// Flyte does for a pod), and the pod and environment as custom info.
func (p *Plugin) taskInfo(ctx context.Context, tCtx pluginsCore.TaskExecutionContext, s actorpool.TaskStatus, now time.Time) (*pluginsCore.TaskInfo, error) {
	info := &pluginsCore.TaskInfo{OccurredAt: &now}
	if s.Executor == "" {
		return info, nil
	}
	custom, err := structpb.NewStruct(map[string]any{
		"executorPod": s.Executor, "executorContainer": s.ExecutorContainer, "environmentId": s.EnvironmentID,
	})
	if err != nil {
		return nil, err
	}
	info.CustomInfo = custom
	if p.logPlugin == nil {
		return info, nil
	}
	meta := tCtx.TaskExecutionMetadata()
	start, finish := s.StartedAt, s.FinishedAt
	if finish.IsZero() {
		finish = now
	}
	in := tasklog.Input{
		PodName:         s.Executor,
		Namespace:       meta.GetNamespace(),
		ContainerName:   s.ExecutorContainer,
		TaskExecutionID: meta.GetTaskExecutionID(),
		ExtraTemplateVars: []tasklog.TemplateVar{
			{Regex: actorTaskIDVar, Value: meta.GetTaskExecutionID().GetGeneratedName()},
			{Regex: actorEnvironmentVar, Value: s.EnvironmentID},
		},
	}
	if !start.IsZero() {
		in.PodUnixStartTime, in.PodRFC3339StartTime = start.Unix(), start.Format(time.RFC3339)
		in.PodUnixFinishTime, in.PodRFC3339FinishTime = finish.Unix(), finish.Format(time.RFC3339)
	}
	if tmpl, err := tCtx.TaskReader().Read(ctx); err == nil {
		in.TaskTemplate = tmpl
	}
	out, err := p.logPlugin.GetTaskLogs(in)
	if err != nil {
		return nil, fmt.Errorf("log links of %s: %w", s.Executor, err)
	}
	info.Logs = withPhaseVisibility(out.TaskLogs, s.Phase())
	return info, nil
}

// withPhaseVisibility drops the links that say they are not for this phase (Flyte's ShowWhilePending,
// HideOnceFinished).
func withPhaseVisibility(links []*idlcore.TaskLog, phase actorpool.TaskPhase) []*idlcore.TaskLog {
	out := links[:0]
	for _, l := range links {
		if l.GetHideOnceFinished() && phase.IsTerminal() {
			continue
		}
		out = append(out, l)
	}
	return out
}
