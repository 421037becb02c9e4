package main

import (
	"slices"
	"testing"

	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery"
)

// linkedPlugins are the plugin IDs this binary must register: upstream's list (flytepropeller v1.16.8
// plugins/loader.go) less Spark, plus the actor plugin. A platform that swaps the stock propeller for
// this one keeps every task type it ran.
var linkedPlugins = struct{ core, k8s []string }{
	core: []string{
		"aws_array",  // array/awsbatch
		"k8s-array",  // array/k8s (map tasks)
		"echo",       // testing
		"athena",     // webapi/athena
		"bigquery",   // webapi/bigquery
		"databricks", // webapi/databricks
		"snowflake",  // webapi/snowflake
		"actor",      // this project
	},
	k8s: []string{
		"container", "sidecar", "pod", // k8s/pod
		"dask",                         // k8s/dask
		"mpi", "pytorch", "tensorflow", // k8s/kfoperators
		"ray", // k8s/ray
	},
}

func TestLinkedPluginsRegister(t *testing.T) {
	core, k8s := registeredPlugins()
	for _, id := range linkedPlugins.core {
		if !slices.Contains(core, id) {
			t.Errorf("core plugin %q is not registered; registered core plugins: %v", id, core)
		}
	}
	for _, id := range linkedPlugins.k8s {
		if !slices.Contains(k8s, id) {
			t.Errorf("k8s plugin %q is not registered; registered k8s plugins: %v", id, k8s)
		}
	}
}

// TestSparkIsNotLinked keeps the README's "Spark is missing" true: if Spark ever builds and is linked,
// this fails so that the documentation (README, chart README, main.go) is updated with it.
func TestSparkIsNotLinked(t *testing.T) {
	if _, k8s := registeredPlugins(); slices.Contains(k8s, "spark") {
		t.Fatal("the spark plugin is linked now: say so in README.md, charts/flyte-actors/README.md and main.go, and add it to linkedPlugins")
	}
}

func registeredPlugins() (core, k8s []string) {
	for _, p := range pluginmachinery.PluginRegistry().GetCorePlugins() {
		core = append(core, p.ID)
	}
	for _, p := range pluginmachinery.PluginRegistry().GetK8sPlugins() {
		k8s = append(k8s, p.ID)
	}
	return core, k8s
}
