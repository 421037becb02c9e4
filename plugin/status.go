package plugin

import (
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/flyteactors/flyteactors/actorpool"
)

// StatusPath is where FlytePropeller's profiling and metrics server (propeller.prof-port, with /metrics)
// serves the actor pool's status page: what an operator reaches with `kubectl port-forward`. Only the
// leader (or a shard's leader) runs a pool and serves it.
const StatusPath = "/actors/status"

// snapshotter is what the status page needs from the pool.
type snapshotter interface{ Snapshot() actorpool.Snapshot }

// statusPage serves the pool's snapshot as JSON, read-only: its environments, their executors with
// their state and current tasks, queue depths, and why each waiting environment waits. It shows no
// secret, token, command or environment variable.
type statusPage struct {
	pool  snapshotter
	shard string
}

// Status is the status page's document.
type Status struct {
	// Shard is the shard of FlytePropeller this pool serves; empty when unsharded.
	Shard string    `json:"shard,omitempty"`
	At    time.Time `json:"at"`
	actorpool.Snapshot
}

func (s statusPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "the status page is read-only", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(Status{Shard: s.shard, At: time.Now().UTC(), Snapshot: s.pool.Snapshot()})
}

// serveStatusPage registers the status page on mux (propeller's server serves http.DefaultServeMux),
// unless a handler already serves StatusPath there.
func serveStatusPage(mux *http.ServeMux, page http.Handler) {
	if _, pattern := mux.Handler(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: StatusPath}}); pattern == StatusPath {
		return
	}
	mux.Handle(StatusPath, page)
}
