// Command flytepropeller is FlytePropeller v1.16.8 with the Flyte Actors plugin linked in.
//
// It is upstream's controller command unchanged; only the plugin list differs. The list is explicit
// (rather than flytepropeller/plugins) because that package pulls in the Spark plugin, whose
// dependency is not served by the module proxy this project builds from.
package main

import (
	"github.com/flyteorg/flyte/flytepropeller/cmd/controller/cmd"

	_ "github.com/flyteorg/flyte/flyteplugins/go/tasks/plugins/array/k8s"
	_ "github.com/flyteorg/flyte/flyteplugins/go/tasks/plugins/k8s/pod"
	_ "github.com/flyteorg/flyte/flyteplugins/go/tasks/plugins/testing"

	_ "github.com/flyteactors/flyteactors/plugin"
)

func main() {
	cmd.Execute()
}
