// Command dockerlint runs BuildKit's Dockerfile checks (the rules of `docker build --check`) without a
// Docker engine or BuildKit daemon, so CI can lint userq's Dockerfiles on a machine that has neither.
//
//	dockerlint FILE...   prints each warning with its source lines; exits 1 on any warning or error
//
// It calls the same function BuildKit's Dockerfile frontend calls for a `--check` build. Base images are
// not fetched: each FROM gets a stand-in config with the usual PATH, so rules that read a base image's
// environment see what a Debian-based image has. A `# check=` directive in the file is honoured.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/opencontainers/go-digest"
)

// standInImage answers every base-image lookup with a minimal linux/amd64 image config.
type standInImage struct{}

func (standInImage) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"config":       map[string]any{"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{digest.FromString(ref).String()}},
	})
	return ref, "", config, err
}

func lint(path string) (int, error) {
	dt, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	source := llb.NewSourceMap(nil, path, "Dockerfile", dt)
	source.Definition = &llb.Definition{} // no build context: the source is the file alone
	results, err := dockerfile2llb.DockerfileLint(context.Background(), dt, dockerfile2llb.ConvertOpt{
		Config:       dockerui.Config{},
		SourceMap:    source,
		MetaResolver: standInImage{},
	})
	if err != nil {
		return 0, err
	}
	for i := range results.Warnings {
		if err := results.Warnings[i].PrintTo(os.Stdout, results.Sources, nil); err != nil {
			return 0, err
		}
	}
	problems := len(results.Warnings)
	if results.Error != nil {
		fmt.Printf("\nERROR: %s\n", results.Error.Message)
		problems++
	}
	return problems, nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dockerlint FILE...")
		os.Exit(2)
	}
	total := 0
	for _, path := range os.Args[1:] {
		problems, err := lint(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			os.Exit(2)
		}
		fmt.Printf("%s: %d problem(s)\n", path, problems)
		total += problems
	}
	if total > 0 {
		os.Exit(1)
	}
}
