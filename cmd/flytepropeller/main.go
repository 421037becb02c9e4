// Command flytepropeller is FlytePropeller v1.16.8 with the Flyte Actors plugin linked in.
//
// It is upstream's controller command unchanged; only the plugin list differs. It runs in place of the
// stock propeller image, so it links every plugin of upstream's list (flytepropeller/plugins/loader.go)
// that builds from the module proxy: a cluster that runs Ray, Dask, Kubeflow, AWS Batch or web API tasks
// keeps them. The connector (agent) plugins come with propeller's task handler itself.
//
// Spark is the one plugin missing: flyteplugins v1.16.8 pins github.com/kubeflow/spark-operator at a
// pseudo-version (v0.0.0-20250325114751-1905be6e1dbd) that the module proxy does not serve, so neither
// the Spark plugin nor flytepropeller/plugins (which imports it) can be built here.
package main

import (
	"github.com/flyteorg/flyte/flytepropeller/cmd/controller/cmd"

	// Upstream's list, in its order, less Spark (see above); plugins_test.go checks each registers.
	_ "github.com/flyteorg/flyte/flyteplugins/go/tasks/plugins/array/awsbatch"
	_ "github.com/flyteorg/flyte/flyteplugins/go/tasks/plugins/array/k8s"
	_ "github.com/flyteorg/flyte/flyteplugins/go/tasks/plugins/k8s/dask"
	_ "github.com/flyteorg/flyte/flyteplugins/go/tasks/plugins/k8s/kfoperators/mpi"
	_ "github.com/flyteorg/flyte/flyteplugins/go/tasks/plugins/k8s/kfoperators/pytorch"
	_ "github.com/flyteorg/flyte/flyteplugins/go/tasks/plugins/k8s/kfoperators/tensorflow"
	_ "github.com/flyteorg/flyte/flyteplugins/go/tasks/plugins/k8s/pod"
	_ "github.com/flyteorg/flyte/flyteplugins/go/tasks/plugins/k8s/ray"
	_ "github.com/flyteorg/flyte/flyteplugins/go/tasks/plugins/testing"
	_ "github.com/flyteorg/flyte/flyteplugins/go/tasks/plugins/webapi/athena"
	_ "github.com/flyteorg/flyte/flyteplugins/go/tasks/plugins/webapi/bigquery"
	_ "github.com/flyteorg/flyte/flyteplugins/go/tasks/plugins/webapi/databricks"
	_ "github.com/flyteorg/flyte/flyteplugins/go/tasks/plugins/webapi/snowflake"

	_ "github.com/flyteactors/flyteactors/plugin"
)

func main() {
	cmd.Execute()
}
