package pipeline

import (
	"context"
	"fmt"
	"lab.dev/lab/core/engine"
	"os"
	"path/filepath"
	"strings"
	"time"

	"lab.dev/lab/agent/deploy"
	"lab.dev/lab/bootstrap/cluster"
	"lab.dev/lab/core/state"
	"lab.dev/lab/stacks"
)

// An offline `lab up --bundle`: the bundle's saved images go into the
// nodes before the charts install; when it carries the Ollama model, the
// chart does not pull it in the pod (stacks.Env.ModelBundled)
// and the stacks step imports it from the bundle into the lab's Ollama
// through a port-forward instead, and records that it did.

func (c *Context) modelMarker() string { return filepath.Join(c.Dir, "model-imported") }

// modelPending says whether bundle m's model still has to be imported.
func (c *Context) modelPending(m *stacks.BundleManifest) (bool, string) {
	if m == nil || m.Model == nil || !c.Lab.Stacks.Ollama.IsEnabled() || c.Provider.Capabilities().SimulatedNodes {
		return false, ""
	}
	if b, err := os.ReadFile(c.modelMarker()); err == nil && strings.TrimSpace(string(b)) == modelID(m.Model) {
		return false, ""
	}
	return true, fmt.Sprintf("model %s from the bundle not imported into Ollama yet", m.Model.Name)
}

func modelID(m *stacks.BundleModel) string {
	ids := []string{m.Name}
	for _, b := range m.Blobs {
		ids = append(ids, b.Digest)
	}
	return strings.Join(ids, " ")
}

// importModel loads the bundled model into the lab's Ollama.
func (c *Context) importModel(ctx context.Context) error {
	m := c.bundle
	if m == nil || m.Model == nil || !c.Lab.Stacks.Ollama.IsEnabled() {
		return nil
	}
	if c.Provider.Capabilities().SimulatedNodes {
		c.UI.Progress("  ollama: model %s not imported (kwok pods are simulated: no Ollama runs)", m.Model.Name)
		return nil
	}
	if pending, _ := c.modelPending(m); !pending {
		return nil
	}
	cfg, err := c.Provider.RESTConfig()
	if err != nil {
		return err
	}
	cs, err := c.client()
	if err != nil {
		return err
	}
	url, stop, err := stacks.PortForward(ctx, cfg, cs, stacks.OllamaNamespace, stacks.OllamaSelector, 11434)
	if err != nil {
		return fmt.Errorf("reaching Ollama to import %s: %w", m.Model.Name, err)
	}
	defer stop()
	ol, err := stacks.NewOllama(url)
	if err != nil {
		return err
	}
	err = ol.ImportModel(ctx, filepath.Join(c.Dir, "bundle"), m.Model, func(status string, _, _ int64) {
		c.UI.Debug(1, "  ollama: %s", status)
	})
	if err != nil {
		return err
	}
	if _, err := ol.Answers(ctx, m.Model.Name); err != nil {
		return err
	}
	c.UI.Progress("  ollama: model %s imported from the bundle and answers", m.Model.Name)
	return state.WriteFile(c.modelMarker(), []byte(modelID(m.Model)+"\n"), 0o600)
}

// loadImages puts the bundle's saved images into the nodes before the
// charts install, so no pod pulls behind the air gap.
func (c *Context) loadImages(ctx context.Context) error {
	if c.bundle == nil || len(c.bundle.Images) == 0 {
		return nil
	}
	l, ok := c.Provider.(cluster.ImageLoader)
	if !ok {
		c.UI.Progress("  images: %d in the bundle, not loaded (%s nodes are not lab's containers)", len(c.bundle.Images), c.Provider.Name())
		return nil
	}
	var archives []string
	for _, a := range c.bundle.ImageArchives() {
		archives = append(archives, filepath.Join(c.Dir, "bundle", filepath.FromSlash(a.File)))
	}
	start := time.Now()
	if err := l.LoadImages(ctx, archives); err != nil {
		return fmt.Errorf("loading the bundle's images: %w", err)
	}
	c.UI.Progress("  images: %d from the bundle loaded into the nodes (%s)", len(c.bundle.Images), time.Since(start).Round(100*time.Millisecond))
	return nil
}

// LoadAgentImage copies the agent's image (deploy.AgentImage(), from `make
// image`) from the local container engine into the lab's nodes, for `lab
// diagnose --in-cluster` and `lab agent serve`. Providers whose nodes are
// not lab's containers, or a host without the image, get a line saying so.
func (c *Context) LoadAgentImage(ctx context.Context) error {
	l, ok := c.Provider.(cluster.ImageLoader)
	if !ok {
		c.UI.Debug(1, "agent image: %s nodes are not lab's containers; nothing to load", c.Provider.Name())
		return nil
	}
	eng, err := engine.Connect(ctx)
	if err != nil {
		return err
	}
	defer eng.Close()
	id, err := eng.ImageID(ctx, deploy.AgentImage())
	if err != nil {
		return err
	} else if id == "" {
		c.UI.Progress("  agent image %s is not in the local engine: build it with `make image`, then run `lab agent image` (until then the in-cluster agent cannot start)", deploy.AgentImage())
		return nil
	}
	tmp, err := os.MkdirTemp("", "lab-agent-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	archive := filepath.Join(tmp, "agent.tar")
	if _, err := eng.Save(ctx, deploy.AgentImage(), archive); err != nil {
		return err
	}
	if err := l.LoadImages(ctx, []string{archive}); err != nil {
		return fmt.Errorf("loading the agent image: %w", err)
	}
	c.UI.Progress("  agent image %s loaded into the nodes", deploy.AgentImage())
	return state.WriteFile(c.agentImageRecord(), []byte(id+"\n"), 0o600)
}

func (c *Context) agentImageRecord() string { return filepath.Join(c.Dir, "agent-image") }

// agentImagePending says why the agent's image still has to be loaded into
// the nodes: the local engine holds one the nodes were not given (a new
// `make image`, or nodes that never got it: with GitOps on, Argo CD applies
// the agent's objects before the agent step, which then found nothing to
// do and never loaded the image — the in-cluster agent's pod stayed in
// ImagePullBackOff). "" when there is nothing to load or no way to.
func (c *Context) agentImagePending(ctx context.Context) string {
	if _, ok := c.Provider.(cluster.ImageLoader); !ok || c.Provider.Capabilities().SimulatedNodes {
		return "" // simulated nodes run no image
	}
	eng, err := engine.Connect(ctx)
	if err != nil {
		return ""
	}
	defer eng.Close()
	id, err := eng.ImageID(ctx, deploy.AgentImage())
	if err != nil || id == "" {
		return ""
	}
	if loaded, _ := os.ReadFile(c.agentImageRecord()); strings.TrimSpace(string(loaded)) == id {
		return ""
	}
	return "agent image " + deploy.AgentImage() + " not loaded into the nodes yet"
}
