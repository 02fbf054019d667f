package action

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"lab.dev/lab/bootstrap/doctor"
	"lab.dev/lab/bootstrap/pipeline"
	"lab.dev/lab/core/engine"
	"lab.dev/lab/core/ui"
	"lab.dev/lab/core/version"
	"lab.dev/lab/stacks"
	"lab.dev/lab/stacks/certs"
)

// Bundle is `lab bundle`: the enabled stacks' pinned charts, their images
// and the model in one archive for an air-gapped `lab up --offline --bundle`.
type Bundle struct {
	*Config
	Out, ModelRegistry, VulnDB string
	// Charts: a folder holding the pinned charts (name-version.tgz), read
	// instead of the charts' repositories.
	Charts                  string
	NoModel, NoImages, Scan bool
}

// Run writes the archive and prints what it holds.
func (b *Bundle) Run() error {
	l := b.Lab
	env := stacks.Env{Lab: l, Model: doctor.ResolveModel(l, 0), GPU: l.Cluster.GPUWorkers > 0}
	var err error
	if l.Stacks.Linkerd.IsEnabled() {
		if env.Certs, err = certs.Ensure(filepath.Join(b.Dir(), "certs")); err != nil {
			return err
		}
	}
	plans, err := stacks.Plans(l, env)
	if err != nil {
		return err
	}
	if b.Charts != "" {
		if err := stacks.FromFolder(plans, b.Charts); err != nil {
			return err
		}
	}
	in := &stacks.Installer{CacheDir: filepath.Join(b.Dir(), "helm")}
	o := stacks.BundleOptions{LabVersion: version.Version, ModelRegistry: b.ModelRegistry}
	if l.Stacks.Ollama.IsEnabled() && !b.NoModel {
		o.Model = env.Model
		b.UI.Progress("fetching model %s from %s", o.Model, b.ModelRegistry)
	}
	ctx := context.Background()
	if !b.NoImages {
		var note string
		if o.GitOpsImages, note, err = pipeline.GitOpsImages(l); err != nil {
			return fmt.Errorf("the GitOps repository's images: %w", err)
		}
		if note != "" {
			b.UI.Progress("%s %s", b.UI.Mark(ui.MarkWarn), note)
		}
	}
	if !b.NoImages {
		eng, err := engine.Connect(ctx)
		switch {
		case errors.Is(err, engine.ErrNoEngine):
			b.UI.Progress("%s no container engine (%v): the images are listed in bundle.json, not saved; an air-gapped host needs them from elsewhere", b.UI.Mark(ui.MarkWarn), err)
		case err != nil:
			return err
		default:
			defer eng.Close()
			o.Engine, o.Progress = eng, func(s string) { b.UI.Progress("  %s", s) }
		}
	}
	m, err := in.WriteBundle(ctx, plans, b.Out, o)
	if err != nil {
		return err
	}
	b.print(m)
	if b.Scan && m.SBOM != nil {
		_, bom, err := stacks.BundleSBOMOf(b.Out)
		if err != nil {
			return err
		}
		if err := ScanReport(b.UI.Out, bom, b.VulnDB); err != nil {
			return err
		}
	}
	b.UI.Progress("wrote %s", b.Out)
	return nil
}

func (b *Bundle) print(m *stacks.BundleManifest) {
	w := b.UI.Out
	for _, ch := range m.Charts {
		fmt.Fprintf(w, "%s %s-%s sha256:%s (%d images)\n", ch.Release, ch.Name, ch.Version, ch.SHA256[:12], len(ch.Images))
	}
	if m.Model != nil {
		var size int64
		for _, bl := range m.Model.Blobs {
			size += bl.Size
		}
		fmt.Fprintf(w, "model %s: %d blobs, %.1f MB\n", m.Model.Name, len(m.Model.Blobs), float64(size)/1e6)
	}
	if len(m.GitOpsImages) > 0 {
		fmt.Fprintf(w, "gitops: %d images of the GitOps repository's workloads (%s)\n", len(m.GitOpsImages), strings.Join(m.GitOpsImages, ", "))
	}
	if len(m.Images) > 0 {
		fmt.Fprintf(w, "images: %d saved in %d archive(s), each layer once\n", len(m.Images), len(m.ImageArchives()))
	}
	if m.SBOM != nil {
		fmt.Fprintf(w, "sbom: %s sha256:%s (CycloneDX; lab sbom --bundle %s)\n", m.SBOM.File, m.SBOM.SHA256[:12], b.Out)
	}
	fmt.Fprintf(w, "bundle digest: %s\n  on the air-gapped host: lab up --offline --bundle %s --bundle-digest %s\n", m.Digest, filepath.Base(b.Out), m.Digest)
}
