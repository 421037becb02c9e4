package plugin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flyteactors/flyteactors/actorpool"
)

type fixedSnapshot actorpool.Snapshot

func (f fixedSnapshot) Snapshot() actorpool.Snapshot { return actorpool.Snapshot(f) }

func TestStatusPageServesThePoolReadOnly(t *testing.T) {
	mux := http.NewServeMux()
	page := statusPage{pool: fixedSnapshot{Environments: []actorpool.EnvironmentSnapshot{{Name: "my-actor", Queued: 3,
		Waiting: "queued: 2 tasks ahead in environment my-actor"}}}, shard: "shard-1"}
	serveStatusPage(mux, page)
	serveStatusPage(mux, page) // a second registration changes nothing, and does not panic

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, StatusPath, nil))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var got Status
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	assert.Equal(t, "shard-1", got.Shard)
	require.Len(t, got.Environments, 1)
	assert.Equal(t, "queued: 2 tasks ahead in environment my-actor", got.Environments[0].Waiting)

	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, StatusPath, nil))
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code, "read-only")
}
