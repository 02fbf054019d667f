package stacks

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/ollama/ollama/api"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Ollama talks to the lab's Ollama to pull its model and to check that the
// model answers (the stack's readiness: running pods are not enough).
type Ollama struct {
	Client *api.Client
}

// NewOllama builds a client for an Ollama base URL.
func NewOllama(endpoint string) (*Ollama, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	return &Ollama{Client: api.NewClient(u, &http.Client{Timeout: 0})}, nil
}

// Progress reports a pull: the layer being fetched and bytes done.
type Progress func(status string, completed, total int64)

// Pull pulls model (already present layers are skipped by Ollama itself),
// reporting progress. insecure allows plain-HTTP registries (offline mirrors).
func (o *Ollama) Pull(ctx context.Context, model string, insecure bool, progress Progress) error {
	err := o.Client.Pull(ctx, &api.PullRequest{Model: model, Insecure: insecure}, func(p api.ProgressResponse) error {
		if progress != nil {
			progress(p.Status, p.Completed, p.Total)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pulling %s: %w", model, err)
	}
	return nil
}

// The Ollama stack's namespace and its pods' label (otwld chart).
const (
	OllamaNamespace = "ollama"
	OllamaSelector  = "app.kubernetes.io/name=ollama"
)

// ModelLoaded says whether the lab's Ollama, reached through a port-forward
// to its pod, holds model (for lab status).
func ModelLoaded(ctx context.Context, cfg *rest.Config, cs kubernetes.Interface, model string) (bool, string) {
	url, stop, err := PortForward(ctx, cfg, cs, OllamaNamespace, OllamaSelector, 11434)
	if err != nil {
		return false, err.Error()
	}
	defer stop()
	o, err := NewOllama(url)
	if err != nil {
		return false, err.Error()
	}
	if _, err := o.Client.Show(ctx, &api.ShowRequest{Model: model}); err != nil {
		return false, fmt.Sprintf("%s is not in Ollama: %v", model, err)
	}
	return true, model + " loaded"
}

// Answers checks readiness the way a user would: the model generates a token.
func (o *Ollama) Answers(ctx context.Context, model string) (time.Duration, error) {
	start := time.Now()
	stream := false
	err := o.Client.Chat(ctx, &api.ChatRequest{Model: model, Stream: &stream,
		Messages: []api.Message{{Role: "user", Content: "ping"}}, Options: map[string]any{"num_predict": 1}},
		func(api.ChatResponse) error { return nil })
	if err != nil {
		return 0, fmt.Errorf("model %s does not answer: %w", model, err)
	}
	return time.Since(start), nil
}
