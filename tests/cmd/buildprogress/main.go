// Command buildprogress builds Go packages the way `go build` does, reporting every 20 seconds what it
// is building and for how long (see package buildprogress). `make demo` builds the demo with it, since
// on a fresh machine that takes 10-15 minutes during which go build prints nothing.
//
// Usage: buildprogress -what "<description>" -- <go build arguments>
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/flyteactors/flyteactors/tests/internal/buildprogress"
)

func main() {
	what := flag.String("what", "Go packages", "what is being built, in words")
	flag.Parse()
	fmt.Printf("building %s (the first build on a machine takes 10-15 minutes)\n", *what)
	if err := buildprogress.Run(".", *what, os.Stdout, flag.Args()...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
