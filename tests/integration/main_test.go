// Package integration runs Flyte Actors through the real stack: etcd, kube-apiserver, FlytePropeller
// with the actor plugin, flytekit, and a local kubelet (see package harness).
package integration

import (
	"os"
	"testing"

	"github.com/flyteactors/flyteactors/tests/harness"
)

func TestMain(m *testing.M) {
	harness.Setup()
	os.Exit(m.Run())
}
