package harness

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	"k8s.io/client-go/rest"
)

// APIMeter counts the requests FlytePropeller (its controller and the actor pool, one process) makes to
// the API server: a reverse proxy in front of the API server that propeller's kubeconfig names instead
// of it (Options.MeterPropellerAPI). It counts by verb and resource, as the API server's own
// apiserver_request_total does, but for this one client.
type APIMeter struct {
	mu     sync.Mutex // guards counts
	counts map[APIRequest]int
	server *http.Server
	url    string
}

// APIRequest is a kind of request: its verb (get, list, watch, create, update, patch, delete, ...) and
// resource (pods, flyteworkflows, ...), with the subresource after a slash (pods/status).
type APIRequest struct {
	Verb, Resource string
}

// APICounts are request counts by kind.
type APICounts map[APIRequest]int

// Total is the number of requests counted.
func (c APICounts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// Sub returns the counts of c made since before was taken.
func (c APICounts) Sub(before APICounts) APICounts {
	out := APICounts{}
	for k, v := range c {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// String lists the counts, most frequent first: "12 update flyteworkflows, 3 get pods".
func (c APICounts) String() string {
	kinds := make([]APIRequest, 0, len(c))
	for k := range c {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		if c[kinds[i]] != c[kinds[j]] {
			return c[kinds[i]] > c[kinds[j]]
		}
		return kinds[i].Verb+kinds[i].Resource < kinds[j].Verb+kinds[j].Resource
	})
	parts := make([]string, 0, len(kinds))
	for _, k := range kinds {
		parts = append(parts, strings.Join([]string{strconv.Itoa(c[k]), k.Verb, k.Resource}, " "))
	}
	return strings.Join(parts, ", ")
}

// startAPIMeter starts a meter in front of the API server of cfg until ctx ends; the returned config
// reaches the API server through it, as cfg's user.
func startAPIMeter(ctx context.Context, cfg *rest.Config) (*APIMeter, *rest.Config, error) {
	transport, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, nil, err
	}
	target, err := url.Parse(cfg.Host)
	if err != nil {
		return nil, nil, err
	}
	if target.Scheme == "" {
		target.Scheme = "https"
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	m := &APIMeter{counts: map[APIRequest]int{}, url: "http://" + listener.Addr().String()}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = transport
	// Watches stream: pass each event on as it comes.
	proxy.FlushInterval = -1
	m.server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.count(r)
		proxy.ServeHTTP(w, r)
	})}
	go func() {
		if err := m.server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			panic(err)
		}
	}()
	go func() {
		<-ctx.Done()
		_ = m.server.Close()
	}()
	// Whoever dials the meter is cfg's user: the meter adds cfg's credentials on the way out.
	return m, &rest.Config{Host: m.url, QPS: cfg.QPS, Burst: cfg.Burst}, nil
}

// Counts returns the requests counted so far.
func (m *APIMeter) Counts() APICounts {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(APICounts, len(m.counts))
	for k, v := range m.counts {
		out[k] = v
	}
	return out
}

func (m *APIMeter) count(r *http.Request) {
	kind := classify(r)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.counts[kind]++
}

// classify names a request's verb and resource from its method and path, as the API server's
// RequestInfoFactory does for resource requests: /api/v1/namespaces/ns/pods/name/status is an update
// of pods/status, a GET without a name a list (or a watch with ?watch=true).
func classify(r *http.Request) APIRequest {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return APIRequest{Verb: strings.ToLower(r.Method), Resource: "(non-resource)"}
	}
	if len(parts) >= 2 && parts[0] == "namespaces" && len(parts) != 2 {
		parts = parts[2:]
	}
	resource, named := "", false
	if len(parts) > 0 {
		resource = parts[0]
	}
	if len(parts) > 1 {
		named = true
	}
	if len(parts) > 2 {
		resource += "/" + parts[2]
	}
	verb := map[string]string{http.MethodPost: "create", http.MethodPut: "update", http.MethodPatch: "patch",
		http.MethodDelete: "delete"}[r.Method]
	if r.Method == http.MethodGet {
		switch {
		case r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1":
			verb = "watch"
		case named:
			verb = "get"
		default:
			verb = "list"
		}
	}
	if r.Method == http.MethodDelete && !named {
		verb = "deletecollection"
	}
	if verb == "" {
		verb = strings.ToLower(r.Method)
	}
	return APIRequest{Verb: verb, Resource: resource}
}
