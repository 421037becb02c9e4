// Package python carries the flyteactors Python package (the flytekit plugin and the warm runtime, pure
// Python) inside the Go programs that need it: the executor installs it into every executor pod beside
// itself, so that an image with only Python and flytekit runs actor tasks.
package python

import (
	"embed"
	"io/fs"
)

//go:embed flyteactors/*.py flyteactors/runtime/*.py
var files embed.FS

// Package returns the flyteactors package's files, rooted at the folder that holds the package (so its
// paths start with flyteactors/).
func Package() fs.FS { return files }
