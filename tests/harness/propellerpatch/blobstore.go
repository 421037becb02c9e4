//go:build harness_propeller

// The harness adds this file to the project's cmd/flytepropeller (package main) when it builds the
// propeller the test stack runs (go build -overlay, see harness.BuildBinaries); the product binary
// never contains it. It registers the blob-store kind "harness-local": stow's local kind, except that
// Put finds out the length of a seekable body itself when it is given as 0 (stow's S3 kind ignores the
// given length altogether: its uploader reads the body).
//
// Why: flytestdlib's DataStore.CopyRaw hands the store a length of 0 when the source reader can seek
// (every local file can), leaving the length to the store; stow's local Put then fails with
// "bad size" because it insists the length it was given is the number of bytes it copied. Propeller
// copies outputs with CopyRaw for subworkflows, branches and dynamic workflows, so on plain stow local
// none of them can succeed. References stay file://<bucket>/<key>: flytekit sees no difference.
package main

import (
	"errors"
	"fmt"
	"io"
	"net/url"

	"github.com/flyteorg/flyte/flytestdlib/storage"
	"github.com/flyteorg/stow"
	"github.com/flyteorg/stow/local"
)

// harnessLocalKind is the stow kind of the harness's blob store (storage.stow.kind in its config).
const harnessLocalKind = "harness-local"

func init() {
	stow.Register(harnessLocalKind,
		func(cfg stow.Config) (stow.Location, error) {
			loc, err := stow.Dial(local.Kind, cfg)
			if err != nil {
				return nil, err
			}
			return sizedLocation{loc}, nil
		},
		// Never chosen by URL: file:// URLs keep meaning stow's local kind.
		func(*url.URL) bool { return false },
		func(cfg stow.Config) error { return stow.Validate(local.Kind, cfg) },
	)
	if err := storage.RegisterStowKind(harnessLocalKind, func(bucket string) storage.DataReference {
		return storage.DataReference("file://" + bucket)
	}); err != nil {
		panic(fmt.Sprintf("register blob-store kind %s: %v", harnessLocalKind, err))
	}
}

// sizedLocation is stow's local location whose containers are sizedContainers.
type sizedLocation struct{ stow.Location }

func (l sizedLocation) CreateContainer(name string) (stow.Container, error) {
	c, err := l.Location.CreateContainer(name)
	if err != nil {
		return nil, err
	}
	return sizedContainer{c}, nil
}

func (l sizedLocation) Container(id string) (stow.Container, error) {
	c, err := l.Location.Container(id)
	if err != nil {
		return nil, err
	}
	return sizedContainer{c}, nil
}

// sizedContainer is stow's local container whose Put accepts a length of 0 for a seekable body.
type sizedContainer struct{ stow.Container }

func (c sizedContainer) Put(name string, r io.Reader, size int64, metadata map[string]interface{}) (stow.Item, error) {
	if seeker, ok := r.(io.Seeker); ok && size == 0 {
		var err error
		if size, err = remainingLength(seeker); err != nil {
			return nil, fmt.Errorf("put %s: length of the body: %w", name, err)
		}
	}
	return c.Container.Put(name, r, size, metadata)
}

// remainingLength returns how many bytes s holds from its current offset, and leaves the offset there.
func remainingLength(s io.Seeker) (int64, error) {
	at, err := s.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	end, err := s.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	if _, err := s.Seek(at, io.SeekStart); err != nil {
		return 0, err
	}
	if end < at {
		return 0, errors.New("offset beyond the end")
	}
	return end - at, nil
}
